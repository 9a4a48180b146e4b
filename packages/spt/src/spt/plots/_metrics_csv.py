"""The metrics a run logged, read back from the CSV logger's ``metrics.csv``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

__all__ = ["find_metrics_csv", "read_metrics"]

# Columns Lightning's CSVLogger writes beside the metrics.
AXES = ("step", "epoch")


def find_metrics_csv(run: str | Path) -> Path:
    """The ``metrics.csv`` of a run: the file itself, ``RUN/logs/metrics.csv`` (an spt run
    directory), ``RUN/metrics.csv``, or the one ``metrics.csv`` found below ``RUN``.

    Raises:
        FileNotFoundError: If there is none, or several below ``RUN`` (the message lists them).
    """
    run = Path(run)
    if run.is_file():
        return run
    for candidate in (run / "logs" / "metrics.csv", run / "metrics.csv"):
        if candidate.is_file():
            return candidate
    found = sorted(run.rglob("metrics.csv")) if run.is_dir() else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(
            f"spt plot: no metrics.csv in {run} (looked for logs/metrics.csv, metrics.csv and "
            "below); give a run directory of spt (a CSV logger writes RUN/logs/metrics.csv)"
        )
    raise FileNotFoundError(
        f"spt plot: {len(found)} metrics.csv files below {run}: "
        f"{', '.join(str(p) for p in found)}; give one of them"
    )


def read_metrics(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each logged metric as ``(steps, values)``, in the order the run logged them.

    Rows where a metric is empty (the CSV logger writes one row per logging call) are
    skipped; non-numeric and non-finite values too.

    Examples:
        >>> series = read_metrics("spt_runs/digits/logs/metrics.csv")  # doctest: +SKIP
        >>> steps, loss = series["train/loss"]  # doctest: +SKIP
    """
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    points: dict[str, list[tuple[float, float]]] = {}
    for i, row in enumerate(rows):
        x = _number(row.get("step"))
        x = float(i) if x is None else x
        for name, text in row.items():
            if name is None or name in AXES:
                continue
            value = _number(text)
            if value is not None:
                points.setdefault(name, []).append((x, value))
    return {
        name: (np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
        for name, pts in points.items()
    }


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
