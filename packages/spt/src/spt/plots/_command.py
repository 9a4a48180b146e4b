"""``spt plot RUN_DIR [RUN_DIR ...] [--out DIR]``: draw a run's curves, or compare runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from spt.plots._mpl import EXTRA, MissingExtraError

__all__ = ["main"]

DESCRIPTION = (
    """\
Draw the training curves of a run directory from its logs/metrics.csv into RUN_DIR/plots
(loss, accuracy, rank, lr, and one PNG per other metric). With several run directories
(a sweep), draw one figure per metric with a line per run, into --out (default:
FIRST_RUN/plots/compare). Needs matplotlib: """
    + EXTRA
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spt plot", description=DESCRIPTION)
    parser.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="run directories or metrics.csv files"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder of the PNGs")
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``spt plot``; returns the exit status (2 for bad input or a missing matplotlib).

    Args:
        argv: The arguments after ``spt plot``.
    """
    parser = _parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # argparse exits on --help (0) and on bad arguments (2)
        return exc.code if isinstance(exc.code, int) else 2
    from spt.plots._curves import plot_comparison, plot_run

    try:
        if len(args.runs) == 1:
            written = plot_run(args.runs[0], args.out)
        else:
            first = Path(args.runs[0])
            out = args.out or ((first if first.is_dir() else Path.cwd()) / "plots" / "compare")
            written = plot_comparison(args.runs, out)
    except (MissingExtraError, FileNotFoundError) as exc:
        print(f"spt plot: error: {exc}", file=sys.stderr)
        return 2
    folders = sorted({str(p.parent) for p in written})
    print(f"spt plot: {len(written)} plots in {', '.join(folders) or '(nothing logged)'}")
    return 0
