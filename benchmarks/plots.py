"""Draw the benchmark comparisons and the main example's training curves as PNG files.

Reads the JSON (and the example's CSV log) that the benchmark scripts wrote to
``benchmarks/results/`` and writes one image per figure to ``docs/img/``, where the
documentation's Benchmarks page shows them. A figure whose input is missing is skipped
with a message.

    uv run python benchmarks/plots.py
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _bars(
    ax: Any, labels: list[str], values: list[float], unit: str, reference: float | None
) -> None:
    ax.barh(labels, values, color="#4c72b0")
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    if reference is not None:
        ax.axvline(reference, color="#c44e52", linestyle="--", linewidth=1)
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:.3g}", va="center", fontsize=8)


def step_overhead(data: dict[str, Any], ax: Any) -> None:
    rows = data["rows"]
    labels = [r["variant"] for r in rows]
    values = [r["throughput_vs_lightning_cpu"] for r in rows]
    _bars(ax, labels, values, "throughput vs plain LightningModule (CPU time)", 1.0)
    ax.set_title("Training-step overhead (MLP, CPU)")


def callbacks_overhead(data: dict[str, Any], ax: Any) -> None:
    rows = data["rows"]
    _bars(
        ax,
        [r["variant"] for r in rows],
        [r["cpu_ratio"] for r in rows],
        "throughput vs Module without callbacks",
        0.95,
    )
    ax.set_title("Cost of the callbacks (CPU)")


def losses(data: dict[str, Any], ax: Any) -> None:
    rows = data["rows"]
    _bars(
        ax,
        [f"B={r['batch']} D={r['dim']}" for r in rows],
        [r["naive_over_ours"] for r in rows],
        "speed-up of NTXEntLoss over the naive formula (fwd+bwd)",
        1.0,
    )
    ax.set_title("NT-Xent forward + backward (CPU)")


def augment_gpu(data: dict[str, Any], ax: Any) -> None:
    row = next(r for r in data["rows"] if r["size"] == 32)
    names = [
        "spt_data.gpu (batched)",
        "batch-wide bound",
        "per sample, 0 workers",
        "per sample, 1 worker",
        "per sample, 2 workers",
    ]
    keys = ["ours", "batch_wide_upper_bound", "cpu_workers_0", "cpu_workers_1", "cpu_workers_2"]
    _bars(ax, names, [row[k] for k in keys], "views / s (32x32, two views, on the CPU)", None)
    ax.set_title("Multi-view augmentation at 32x32 (CPU)")


def knn(data: dict[str, Any], ax: Any) -> None:
    rows = [r for r in data["rows"] if r.get("peak_extra_mib") is not None]
    _bars(
        ax,
        [f"{r['method'].split(' ')[0]} queue {r['queue']:,}" for r in rows],
        [r["peak_extra_mib"] for r in rows],
        "extra peak memory (MiB)",
        None,
    )
    ax.set_xscale("log")
    ax.set_title("OnlineKNN validation pass")


def example_curves(path: Path, out: Path) -> None:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        for key, value in row.items():
            if key in {"epoch", "step"} or not value:
                continue
            series.setdefault(key, []).append((float(row["epoch"]), float(value)))
    shown = [
        k
        for k in (
            "knn/val/top1",
            "linear_probe/val/top1",
            "train/loss",
            "rankme/rankme",
        )
        if k in series
    ]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 2.8))
    for ax, key in zip(axes, shown, strict=True):
        xs, ys = zip(*series[key], strict=True)
        ax.plot(xs, ys, marker=".", color="#4c72b0")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch")
    fig.suptitle("examples/simclr_digits.yaml: online monitors while training")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


FIGURES: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "step_overhead": step_overhead,
    "callbacks_overhead": callbacks_overhead,
    "losses": losses,
    "augment_gpu": augment_gpu,
    "knn": knn,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in FIGURES.items():
        source = RESULTS / f"{name}.json"
        if not source.exists():
            print(f"skipped {name}: {source} is missing (run benchmarks/{name}.py)")
            continue
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * 6))
        draw(json.loads(source.read_text()), ax)
        fig.tight_layout()
        fig.savefig(args.out / f"{name}.png", dpi=110)
        plt.close(fig)
        print(f"wrote {args.out / f'{name}.png'}")
    curves = RESULTS / "example_digits_metrics.csv"
    if curves.exists():
        example_curves(curves, args.out / "example_digits_curves.png")
        print(f"wrote {args.out / 'example_digits_curves.png'}")
    else:
        print("skipped the example's curves: run benchmarks/example_digits.py")


if __name__ == "__main__":
    main()
