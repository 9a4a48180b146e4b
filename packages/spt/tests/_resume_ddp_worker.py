"""One 2-process Manager run of the DDP resume tests (run by test_resume_ddp.py, never collected).

Usage: ``python _resume_ddp_worker.py RUN_DIR [--kill-at-step K] [--kill-in-write-at-step K]
[--exit-rank1-at-step K] [--hang-rank1-at-step K] [--collective-timeout S]``. Lightning's
launcher starts rank 1 as a copy of this process (``strategy="ddp"``, ``devices=2``, gloo on
the CPU), unless RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT are set (each rank
started on its own, as ``srun`` or ``torchrun`` do). ``--kill-at-step`` SIGKILLs both ranks
(the process group) at the end of batch K; ``--kill-in-write-at-step`` SIGKILLs them when the
checkpoint of step K is written to its temporary file and not yet renamed;
``--exit-rank1-at-step`` makes rank 1 ``os._exit(1)`` at the start of batch K, and
``--hang-rank1-at-step`` makes it sleep there for an hour. At the end each rank writes
``RUN_DIR/final_rank{RANK}.pt``: its parameters, optimizer states and random states.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as pl
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics.classification import MulticlassAccuracy

import spt
from spt._resume import capture_rng
from spt.ema import TeacherStudent
from spt_module.testing import RandomDictDataset, classification_forward


class VariableDrawDataset(Dataset[dict[str, Any]]):
    """RandomDictDataset plus noise whose number of random draws depends on the sample.

    Like ``RandomResizedCrop``'s rejection sampling, the draws per sample vary, so the two
    ranks' random states drift apart: a resume that gave rank 1 rank 0's state would differ.
    """

    def __init__(self, n: int) -> None:
        self.inner = RandomDictDataset(n=n)

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = dict(self.inner[index])
        draws = torch.rand(1 + index % 3)  # torch's global RNG, 1 to 3 draws
        jitter = float(np.random.rand()) + random.random()
        sample["x"] = sample["x"] + 0.1 * draws.mean() + 0.01 * jitter
        return sample


def _ema_forward(self: Any, batch: dict[str, Any], stage: str) -> dict[str, Any]:
    out = classification_forward(self, batch, stage)
    out["loss"] = out["loss"] + 0.0 * self.teacher(batch["x"]).sum()
    return out


class KillAt(pl.Callback):
    """SIGKILL the process group at the end of batch ``step`` (rank 0 sends it)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step and trainer.is_global_zero:
            os.killpg(os.getpgrp(), signal.SIGKILL)


class KillInWrite(pl.Callback):
    """SIGKILL the process group once step ``step``'s checkpoint is written, before its rename."""

    def __init__(self, step: int) -> None:
        self.step = step

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        write = trainer.save_checkpoint

        def write_then_die(path: Any, *args: Any, **kwargs: Any) -> None:
            write(path, *args, **kwargs)
            if trainer.global_step == self.step and Path(path).name.endswith(".tmp"):
                if trainer.is_global_zero:
                    os.killpg(os.getpgrp(), signal.SIGKILL)
                trainer.strategy.barrier("never passed")

        trainer.save_checkpoint = write_then_die  # type: ignore[method-assign]


class Rank1FailsAt(pl.Callback):
    """Rank 1 dies (``os._exit(1)``) or hangs at the start of batch ``step``; rank 0 goes on."""

    def __init__(self, step: int, hang: bool) -> None:
        self.step = step
        self.hang = hang

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step and trainer.global_rank == 1:
            if self.hang:
                time.sleep(3600)
            os._exit(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--kill-at-step", type=int)
    parser.add_argument("--kill-in-write-at-step", type=int)
    parser.add_argument("--exit-rank1-at-step", type=int)
    parser.add_argument("--hang-rank1-at-step", type=int)
    parser.add_argument("--collective-timeout", type=float, default=600.0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    module = spt.Module(
        backbone=nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.3), nn.ReLU()),
        head=nn.Linear(16, 3),
        teacher=TeacherStudent(nn.Linear(8, 2)),
        forward=_ema_forward,
        optim={
            "optimizer": {"type": "AdamW", "lr": 1e-2},
            "scheduler": {"type": "CosineAnnealingLR"},
        },
    )
    train = DataLoader(VariableDrawDataset(48), batch_size=4, shuffle=True)  # 6 steps per rank
    val = DataLoader(RandomDictDataset(n=16, seed=1), batch_size=8)
    callbacks: list[pl.Callback] = [
        spt.callbacks.OnlineProbe(
            module, name="probe", input="embedding", target="label", probe=nn.Linear(16, 3)
        ),
        spt.callbacks.OnlineKNN(
            name="knn",
            input="embedding",
            target="label",
            queue_length=32,
            k=3,
            metrics={"top1": MulticlassAccuracy(num_classes=3)},
        ),
        spt.callbacks.TeacherStudentCallback(),
    ]
    if args.kill_at_step is not None:
        callbacks.append(KillAt(args.kill_at_step))
    if args.kill_in_write_at_step is not None:
        callbacks.append(KillInWrite(args.kill_in_write_at_step))
    if args.exit_rank1_at_step is not None:
        callbacks.append(Rank1FailsAt(args.exit_rank1_at_step, hang=False))
    if args.hang_rank1_at_step is not None:
        callbacks.append(Rank1FailsAt(args.hang_rank1_at_step, hang=True))
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=2,
        callbacks=callbacks,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    manager = spt.Manager(
        trainer=trainer,
        module=module,
        data=spt.data.DataModule(train=train, val=val),
        seed=0,
        run_dir=args.run_dir,
        ckpt_every_n_steps=4,
        collective_timeout=args.collective_timeout,
    )
    manager()
    final = {
        "state_dict": module.state_dict(),
        "optimizer_states": [o.state_dict() for o in trainer.optimizers],
        "rng": capture_rng(),
        "global_step": trainer.global_step,
    }
    torch.save(final, args.run_dir / f"final_rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    logging.getLogger("lightning").setLevel(logging.WARNING)
    main()
