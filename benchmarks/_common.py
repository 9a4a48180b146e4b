"""Helpers shared by the benchmark scripts (imported as ``_common``: scripts run from here)."""

from __future__ import annotations

import argparse
from typing import Any


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A right-aligned Markdown table of ``rows``, one column per key in ``columns``."""
    cells = [[str(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.rjust(w) for v, w in zip(values, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), sep, *(line(r) for r in cells)])


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads`` (default 1): torch threads in the main process on a CPU."""
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads in the main process on CPU (1: a shared, oversubscribed machine "
        "makes multi-threaded kernels spin; DataLoader workers use 1 each)",
    )
