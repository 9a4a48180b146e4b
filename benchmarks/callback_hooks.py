"""Fixed per-step work of each callback: process-CPU time of its training-batch hooks in a fit.

The workload of ``step_overhead.py`` (MLP, batch 64, SGD) trains with OnlineProbe,
OnlineKNN(20,000) and RankMe(20,000); each callback's ``on_train_batch_start`` and
``on_train_batch_end`` are timed inside the fit (``time.process_time`` around the call), and
so are the reads of ``state_key`` that Lightning makes for every hook it calls (five hooks a
step under manual optimization). A second fit is timed after an untimed one; figures are
microseconds per training step, the median over ``--repeats``.

    uv run --no-sync python benchmarks/callback_hooks.py               # 3 repeats of 1,500 steps
    uv run --no-sync python benchmarks/callback_hooks.py --out before.json
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as pl
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
import step_overhead  # a script of this folder

RESULTS = Path(__file__).resolve().parent / "results"
HOOKS = ("on_train_batch_start", "on_train_batch_end")
STATE_KEY_READS = 5  # Lightning's hooks per manual-optimization step that read state_key


def timed_fit(work: dict[str, Any], loader: DataLoader, steps: int) -> dict[str, float]:
    """One fit; microseconds per step spent in each callback hook and in state_key reads."""
    callbacks_fn = step_overhead.monitor_callbacks(work)
    assert callbacks_fn is not None, "spt_callbacks is not installed"
    callbacks = callbacks_fn()
    spent: dict[str, float] = {}
    for callback in callbacks:
        for hook in HOOKS:
            name = f"{type(callback).__name__}.{hook}"
            spent[name] = 0.0
            original = getattr(callback, hook)

            def timed(*args: Any, _fn: Any = original, _name: str = name) -> None:
                start = time.process_time()
                _fn(*args)
                spent[_name] += time.process_time() - start

            setattr(callback, hook, timed)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    trainer.fit(step_overhead.make_spt_module(work), loader)
    start = time.process_time()
    for _ in range(steps):
        for callback in callbacks:
            for _ in range(STATE_KEY_READS):
                _ = callback.state_key
    spent["state_key reads"] = time.process_time() - start
    return {name: seconds / steps * 1e6 for name, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "callback_hooks.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    work = step_overhead.mlp_workload(args.steps)
    loader = DataLoader(
        work["dataset"], batch_size=work["batch_size"], shuffle=False, drop_last=True
    )
    timed_fit(work, loader, args.steps)  # untimed: imports, first allocations
    runs = [timed_fit(work, loader, args.steps) for _ in range(args.repeats)]
    rows = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    rows["total"] = sum(rows.values())
    for name, us in rows.items():
        print(f"{name:40s} {us:8.1f} us/step")
    import spt_callbacks

    meta = {
        "command": "uv run --no-sync python benchmarks/callback_hooks.py",
        "workload": work["description"],
        "steps": args.steps,
        "repeats": args.repeats,
        "spt_callbacks": spt_callbacks.__file__,
        "torch": torch.__version__,
        "note": "process-CPU microseconds per training step, median over repeats",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "us_per_step": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
