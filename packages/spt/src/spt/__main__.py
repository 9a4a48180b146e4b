"""``python -m spt CONFIG.yaml ...``: the same as the ``spt`` command."""

from spt.cli import main

raise SystemExit(main())
