"""The ``spt`` command (filled by the meta-package issue)."""

import sys


def main() -> int:
    print("spt: the command line arrives with the meta package", file=sys.stderr)
    return 2
