"""Training-step cost of spt_callbacks on an spt_module.Module, relative to no callbacks.

Variants, timed in the same process and interleaved (A, B, C, ..., A, B, C, ...) so that
load on the machine hits them alike; each figure is the median over repeats of the mean
step time after a warm-up:

- ``module``: the Module alone (supervised MLP, batch of 256 inputs of 3,072 floats,
  512-dimensional embedding);
- ``+probe``: with ``OnlineProbe(nn.Linear(512, 10))``;
- ``+knn``: with ``OnlineKNN(queue_length=20_000)`` (training steps only push the queue;
  the validation pass is measured by ``benchmarks/knn.py``);
- ``+rankme``: with ``RankMe(queue_length=20_000, every_n_steps=N)``;
- ``+all``: the three together (one shared embedding queue).

A step is the wall time between consecutive ``on_train_batch_start`` calls, so it holds
every callback's ``on_train_batch_end``. Throughput ratio = module step / variant step
(the issue's target: >= 0.95). On a shared CPU the process-CPU
time per step (``time.process_time``, one torch thread, no GPU) is far less sensitive to other
load than wall time, so it is reported beside it.

    uv run --no-sync python benchmarks/callbacks_overhead.py          # 220 steps, RankMe every 100
    uv run --no-sync python benchmarks/callbacks_overhead.py --quick    # 70 steps, RankMe every 25
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from spt_callbacks import OnlineKNN, OnlineProbe, RankMe
from spt_module import Module
from spt_module.testing import RandomDictDataset

RESULTS = Path(__file__).resolve().parent / "results"
DIM, EMBED, CLASSES, BATCH, QUEUE = 3072, 512, 10, 256, 20_000


def supervised_forward(self: Any, batch: dict[str, Any], stage: str) -> dict[str, Any]:
    embedding = self.backbone(batch["x"])
    loss = nn.functional.cross_entropy(self.head(embedding), batch["label"])
    return {"loss": loss, "embedding": embedding, "label": batch["label"]}


class StepTimer(pl.Callback):
    """Wall and process-CPU time between consecutive training batch starts, after a warm-up."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # type: ignore[no-untyped-def]
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def mean_step(self) -> tuple[float, float]:
        """Mean (wall, CPU) seconds per step."""
        wall, cpu = self.wall[self.warmup :], self.cpu[self.warmup :]
        return (wall[-1] - wall[0]) / (len(wall) - 1), (cpu[-1] - cpu[0]) / (len(cpu) - 1)


def make_callbacks(variant: str, every_n_steps: int, module: Module) -> list[pl.Callback]:
    callbacks: list[pl.Callback] = []
    if variant in ("+probe", "+all"):
        callbacks.append(OnlineProbe(module, name="probe", probe=nn.Linear(EMBED, CLASSES)))
    if variant in ("+knn", "+all"):
        callbacks.append(
            OnlineKNN(name="knn", input="embedding", target="label", queue_length=QUEUE, k=20)
        )
    if variant in ("+rankme", "+all"):
        callbacks.append(
            RankMe(
                name="rankme", input="embedding", queue_length=QUEUE, every_n_steps=every_n_steps
            )
        )
    return callbacks


def run(
    variant: str, steps: int, warmup: int, every_n_steps: int, loader: DataLoader
) -> tuple[float, float]:
    torch.manual_seed(0)
    module = Module(
        backbone=nn.Sequential(nn.Linear(DIM, 1024), nn.ReLU(), nn.Linear(1024, EMBED)),
        head=nn.Linear(EMBED, CLASSES),
        forward=supervised_forward,
        optim={"optimizer": {"type": "SGD", "lr": 0.01}, "scheduler": None},
    )
    timer = StepTimer(warmup)
    trainer = pl.Trainer(
        accelerator="auto",
        devices=1,
        max_epochs=-1,
        max_steps=steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[*make_callbacks(variant, every_n_steps, module), timer],
    )
    trainer.fit(module, loader)
    return timer.mean_step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    steps, warmup, every = (70, 10, 25) if args.quick else (220, 20, 100)
    repeats = args.repeats or (1 if args.quick else 2)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    data = RandomDictDataset(n=BATCH * 8, dim=DIM, num_classes=CLASSES)
    loader = DataLoader(data, batch_size=BATCH, shuffle=True, drop_last=True)
    variants = ["module", "+probe", "+knn", "+rankme", "+all"]
    wall: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):
        for variant in variants:
            w, c = run(variant, steps, warmup, every, loader)
            wall[variant].append(w)
            cpu[variant].append(c)
            print(
                f"{variant:8} wall {w * 1e3:8.1f} ms/step  cpu {c * 1e3:8.1f} ms/step", flush=True
            )

    base_wall, base_cpu = statistics.median(wall["module"]), statistics.median(cpu["module"])
    rows = []
    for variant in variants:
        w, c = statistics.median(wall[variant]), statistics.median(cpu[variant])
        rows.append(
            {
                "variant": variant,
                "wall_ms_per_step": w * 1e3,
                "cpu_ms_per_step": c * 1e3,
                "wall_ratio": base_wall / w,
                "cpu_ratio": base_cpu / c,
                "cpu_overhead_pct": (c / base_cpu - 1) * 100,
                "wall_runs_ms": [t * 1e3 for t in wall[variant]],
                "cpu_runs_ms": [t * 1e3 for t in cpu[variant]],
            }
        )
    header = (
        f"{'variant':8} {'wall ms':>8} {'ratio':>6} {'cpu ms':>8} {'ratio':>6} {'cpu overhead':>12}"
    )
    lines = [header, "-" * len(header)]
    lines += [
        f"{r['variant']:8} {r['wall_ms_per_step']:8.1f} {r['wall_ratio']:6.3f} "
        f"{r['cpu_ms_per_step']:8.1f} {r['cpu_ratio']:6.3f} {r['cpu_overhead_pct']:11.1f}%"
        for r in rows
    ]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(
        f"\n{device}, batch {BATCH}, queue {QUEUE:,}, RankMe every {every} steps, "
        f"{steps - warmup} timed steps x {repeats} repeats, torch threads={args.threads}"
    )
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "command": "uv run --no-sync python benchmarks/callbacks_overhead.py"
        + (" --quick" if args.quick else "")
        + (f" --repeats {args.repeats}" if args.repeats else "")
        + (f" --threads {args.threads}" if args.threads != 1 else ""),
        "device": device,
        "batch": BATCH,
        "queue": QUEUE,
        "rankme_every_n_steps": every,
        "timed_steps": steps - warmup,
        "repeats": repeats,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    (RESULTS / "callbacks_overhead.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
