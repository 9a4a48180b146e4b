"""Training curves of one run, and one figure per metric over several runs (a sweep)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from spt.plots._metrics_csv import find_metrics_csv, read_metrics
from spt.plots._mpl import new_figure, save_figure

__all__ = ["CURVE_SIZE", "GROUPS", "plot_comparison", "plot_run"]

CURVE_SIZE = (6.4, 4.0)  # inches; 640 x 400 pixels at the DPI of spt.plots._mpl
Series = dict[str, tuple[np.ndarray, np.ndarray]]


def _leaf(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower()


def _is_lr(name: str) -> bool:
    return name.startswith("hparams/lr") or name.lower().startswith("lr-") or _leaf(name) == "lr"


def _is_accuracy(name: str) -> bool:
    return re.fullmatch(r"top\d+|acc(uracy)?(_\w+)?|.*_acc", _leaf(name)) is not None


def _is_rank(name: str) -> bool:
    return any(word in name.lower() for word in ("rankme", "lidar"))


# (file stem, title, y label, which metrics): the first group that takes a metric gets it.
GROUPS: list[tuple[str, str, str, Callable[[str], bool]]] = [
    ("loss", "Losses", "loss", lambda n: "loss" in _leaf(n)),
    ("accuracy", "Accuracy", "accuracy", _is_accuracy),
    ("rank", "Effective rank of the embeddings", "rank", _is_rank),
    ("lr", "Learning rates", "learning rate", _is_lr),
]


def _groups(names: Sequence[str]) -> list[tuple[str, str, str, list[str]]]:
    left = list(names)
    out = []
    for stem, title, ylabel, takes in GROUPS:
        members = [n for n in left if takes(n)]
        left = [n for n in left if n not in members]
        if members:
            out.append((stem, title, ylabel, members))
    out.extend((_safe(n), n, n, [n]) for n in left)  # the rest: one figure each
    return out


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "metric"


def _draw(
    path: Path, title: str, ylabel: str, lines: Sequence[tuple[str, np.ndarray, np.ndarray]]
) -> Path:
    figure = new_figure(*CURVE_SIZE)
    axes = figure.add_subplot()
    for label, x, y in lines:
        axes.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, label=label)
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    if ylabel == "learning rate":
        axes.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    axes.legend(fontsize="small")
    return save_figure(figure, path)


def plot_run(run: str | Path, out: str | Path | None = None) -> list[Path]:
    """PNG curves of what a run logged: losses, accuracies, RankMe, learning rates, the rest.

    Args:
        run: A run directory (its ``logs/metrics.csv``) or a ``metrics.csv``.
        out: Folder of the PNGs (default ``RUN/plots``).

    Returns:
        The files written (``loss.png``, ``accuracy.png``, ``rank.png``, ``lr.png``, and one
        per other metric), each 640 x 400 pixels.

    Raises:
        FileNotFoundError: If the run has no metrics.csv.
        spt.plots.MissingExtraError: If matplotlib is not installed.
    """
    csv_path = find_metrics_csv(run)
    series = read_metrics(csv_path)
    folder = Path(out) if out is not None else _run_dir(run, csv_path) / "plots"
    written = []
    for stem, title, ylabel, members in _groups(list(series)):
        lines = [(name, *series[name]) for name in members]
        written.append(_draw(folder / f"{stem}.png", title, ylabel, lines))
    return written


def _run_dir(run: str | Path, csv_path: Path) -> Path:
    run = Path(run)
    if run.is_dir():
        return run
    return csv_path.parent.parent if csv_path.parent.name == "logs" else csv_path.parent


def plot_comparison(runs: Sequence[str | Path], out: str | Path) -> list[Path]:
    """One PNG per metric with a line per run (a sweep); a metric only some runs have is
    drawn for those.

    Args:
        runs: Run directories (or ``metrics.csv`` files); their folder names label the lines.
        out: Folder of the PNGs.

    Returns:
        The files written, one per metric, each 640 x 400 pixels.
    """
    loaded = [(_label(Path(r), runs), read_metrics(find_metrics_csv(r))) for r in runs]
    names: list[str] = []
    for _, series in loaded:
        names.extend(n for n in series if n not in names)
    written = []
    for name in names:
        lines = [(label, *series[name]) for label, series in loaded if name in series]
        ylabel = next((g[2] for g in GROUPS if g[3](name)), name)
        written.append(_draw(Path(out) / f"{_safe(name)}.png", name, ylabel, lines))
    return written


def _label(run: Path, runs: Sequence[str | Path]) -> str:
    names = [Path(r).resolve().name for r in runs]
    name = run.resolve().name
    return name if names.count(name) == 1 else str(run)
