"""Every method of examples/digits/, trained with the same encoder and budget, on held-out digits.

For each ``examples/digits/<method>.yaml`` (all found, or those of ``--methods``), runs
``spt examples/digits/<method>.yaml`` in a subprocess on the CPU, then embeds the
un-augmented digits with the trained backbone and with the same backbone at its seeded
initial weights, and reports on the 360 held-out digits: kNN top-1 (k=20, cosine), linear
probe top-1 (logistic regression on frozen features) and the random-init kNN top-1, with
the training seconds per epoch. Evaluation is that of ``benchmarks/example_digits.py``.
A config with a ``zero_shot`` callback (CLIP) also reports the zero-shot top-1 it logged at
the last validation (class prompts against the test images; chance is 0.10).
A backbone with an EMA teacher (BYOL, DINO, ...) is evaluated through its student.

    uv run --no-sync python benchmarks/methods_digits.py                    # every config
    uv run --no-sync python benchmarks/methods_digits.py --methods simclr,byol --epochs 5
    uv run --no-sync python benchmarks/methods_digits.py --quick            # 2 epochs each
    uv run --no-sync python benchmarks/methods_digits.py --methods swav --merge
    uv run --no-sync python benchmarks/methods_digits.py --combine a.json b.json  # no training

Prints a Markdown table and writes benchmarks/results/methods_digits.{json,md}; with
``--merge`` the rows of methods not run this time are kept from the previous JSON, and
``--combine`` writes the table of runs made separately (in parallel, say).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _common import add_threads_argument, markdown_table
from example_digits import _evaluate, knn_top1
from lightning.pytorch.callbacks import Callback
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"
RESULTS = ROOT / "benchmarks" / "results" / "methods_digits.json"
ZERO_SHOT = "zero-shot top-1 (chance 0.10)"
COLUMNS = [
    "method",
    "encoder",
    "epochs",
    "kNN top-1",
    "linear top-1",
    "random-init kNN top-1",
    "random-init linear top-1",
    ZERO_SHOT,
    "s / epoch",
    "beats random init",
]


class EpochTimer(Callback):
    """Writes the wall seconds of every training epoch to ``path`` (JSON), for the table.

    Added to each run with a ``+callbacks.epoch_timer`` override; the training subprocess
    imports it from this file (``benchmarks/`` is put on its ``PYTHONPATH``).
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        self.path.write_text(json.dumps(self.seconds))


def _overrides(args: argparse.Namespace) -> list[str]:
    epochs = 2 if args.quick else args.epochs
    return [] if epochs is None else [f"trainer.max_epochs={epochs}"]


def _train(config: Path, run_dir: Path, overrides: list[str], threads: int) -> dict[str, Any]:
    timer = run_dir.parent / f"{config.stem}_epochs.json"
    command = [
        sys.executable,
        "-m",
        "spt",
        str(config),
        f"+manager.run_dir={run_dir}",
        "+trainer.enable_progress_bar=false",
        "+callbacks.epoch_timer._target_=methods_digits.EpochTimer",
        f"+callbacks.epoch_timer.path={timer}",
        *overrides,
    ]
    path = os.pathsep.join([str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")])
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": path,
        "OMP_NUM_THREADS": str(threads),
    }
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=run_dir.parent)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"{config.stem}: training failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    epochs = json.loads(timer.read_text())
    return {"wall_seconds": wall, "epoch_seconds": epochs}


def _backbone(config: Path, overrides: list[str]) -> tuple[nn.Module, int, int]:
    """The config's backbone at its initial weights (the CLI seeds before building the module)."""
    import lightning as pl
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(config.parent), version_base="1.3"):
        cfg = compose(config.stem, overrides=overrides)
    pl.seed_everything(int(cfg.manager.seed), verbose=False)
    return instantiate(cfg.module.backbone), int(cfg.size), int(cfg.trainer.max_epochs)


def _trained_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """The saved backbone; of a teacher-student pair, the student."""
    state = torch.load(run_dir / "backbone.pt", weights_only=True)
    if any(k.startswith("student.") for k in state):
        state = {k[len("student.") :]: v for k, v in state.items() if k.startswith("student.")}
    return state


def _zero_shot_top1(run_dir: Path) -> float | None:
    """The last ``zero_shot/val/top1`` of the run's CSV log; None when it logged none."""
    values = []
    for metrics_csv in run_dir.rglob("metrics.csv"):
        with metrics_csv.open() as f:
            values += [
                float(r["zero_shot/val/top1"])
                for r in csv.DictReader(f)
                if r.get("zero_shot/val/top1")
            ]
    return round(values[-1], 3) if values else None


def run_method(config: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Train one method and evaluate it against its random initialisation."""
    overrides = _overrides(args)
    run_dir = tmp / config.stem
    timing = _train(config, run_dir, overrides, args.threads)
    random_init, size, epochs = _backbone(config, overrides)
    trained, _, _ = _backbone(config, overrides)
    trained.load_state_dict(_trained_weights(run_dir))
    before, after = _evaluate(random_init, size), _evaluate(trained, size)
    per_epoch = sorted(timing["epoch_seconds"])[len(timing["epoch_seconds"]) // 2]
    return {
        "method": config.stem,
        "encoder": type(trained).__name__,
        "epochs": epochs,
        "kNN top-1": round(after["knn_top1"], 3),
        "linear top-1": round(after["linear_top1"], 3),
        "random-init kNN top-1": round(before["knn_top1"], 3),
        "random-init linear top-1": round(before["linear_top1"], 3),
        ZERO_SHOT: _zero_shot_top1(run_dir),
        "s / epoch": round(per_epoch, 2),
        "beats random init": "yes" if after["knn_top1"] > before["knn_top1"] else "NO",
        "wall_seconds": round(timing["wall_seconds"], 1),
        "epoch_seconds": [round(s, 3) for s in timing["epoch_seconds"]],
    }


def _configs(methods: str | None) -> list[Path]:
    found = {path.stem: path for path in sorted(DIGITS.glob("*.yaml"))}
    if methods is None:
        return list(found.values())
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in found]
    if unknown:
        raise SystemExit(f"--methods: no config for {unknown} in {DIGITS}; found {sorted(found)}")
    return [found[m] for m in chosen]


def _display(row: dict[str, Any]) -> dict[str, Any]:
    """A row with accuracies at three decimals and seconds at two, for the table."""
    shown = dict(row)
    for key in COLUMNS:
        if "top-1" in key:
            value = row.get(key)
            shown[key] = "-" if value is None else f"{value:.3f}"
    shown["s / epoch"] = f"{row['s / epoch']:.2f}"
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", help="comma-separated config stems (default: all)")
    parser.add_argument("--epochs", type=int, help="override every config's max_epochs")
    parser.add_argument("--quick", action="store_true", help="2 epochs per method")
    parser.add_argument("--merge", action="store_true", help="keep the other methods' rows")
    parser.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        help="train nothing: write the table of the rows of these result files (later wins)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    add_threads_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows: dict[str, dict[str, Any]] = {}
    if args.merge and args.out.is_file():
        rows = {r["method"]: r for r in json.loads(args.out.read_text())["rows"]}
    for path in args.combine or []:
        rows.update({r["method"]: r for r in json.loads(path.read_text())["rows"]})
    with tempfile.TemporaryDirectory() as tmp:
        for config in [] if args.combine else _configs(args.methods):
            row = run_method(config, args, Path(tmp))
            rows[config.stem] = row
            print(json.dumps({k: row.get(k) for k in COLUMNS}), flush=True)
    ordered = [rows[k] for k in sorted(rows)]
    table = markdown_table([_display(r) for r in ordered], COLUMNS)
    report = {
        "command": "python benchmarks/methods_digits.py " + " ".join(sys.argv[1:]),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": args.threads,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "knn": "k=20, cosine, similarity-weighted votes (temperature 0.07)",
        "rows": ordered,
    }
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(table + "\n")


__all__ = ["EpochTimer", "knn_top1", "main", "run_method"]

if __name__ == "__main__":
    main()
