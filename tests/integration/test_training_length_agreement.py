"""Every consumer of the run length agrees with ``spt_optim.TrainingLength.from_trainer``.

Runs end by ``max_epochs``, by ``max_steps``, with accumulation (alone and with
``max_steps``) and with ``limit_train_batches``. In each, the schedules sized from the
length must match what the run then does:

- optimizer steps: ``spt.Module``'s CosineAnnealingLR ``T_max``, a plain LightningModule's
  through ``spt_optim.configure_optimizers``, the EMA teacher's ``total_steps``
  (``spt.ema.attach_teacher_updates``) and ``spt_optim.length_from_module(...)
  .optimizer_steps()``;
- training batches: the ``OnlineProbe``'s CosineAnnealingLR ``T_max`` (the probe steps once
  per batch) and ``length_from_module(...).training_batches()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning as pl
import pytest
import torch
from torch import nn
from typing_extensions import override

import spt_optim
from spt.ema import TeacherStudent, attach_teacher_updates
from spt_callbacks import OnlineProbe
from spt_module import Module
from spt_module.testing import (
    DictOutputModule,
    classification_forward,
    make_dataloader,
    make_trainer,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),
    pytest.mark.filterwarnings("ignore:The number of training batches"),
]

COSINE_SGD = {"optimizer": {"type": "SGD", "lr": 0.05}, "scheduler": "CosineAnnealingLR"}


@dataclass(frozen=True)
class Run:
    """A run and what it does: optimizer steps and training batches, counted by hand."""

    name: str
    trainer: dict[str, Any]
    samples: int  # batches of 4
    steps: int
    batches: int


RUNS = [
    # 6 batches an epoch, 2 epochs.
    Run("max_epochs", {"max_epochs": 2}, samples=24, steps=12, batches=12),
    # Ends inside the second epoch of 6 batches.
    Run("max_steps", {"max_epochs": 5, "max_steps": 7}, samples=24, steps=7, batches=7),
    # 5 batches an epoch accumulated by 2: windows 2, 2, 1 -> 3 steps an epoch.
    Run("accumulation", {"max_epochs": 2, "accumulate_grad_batches": 2}, 20, steps=6, batches=10),
    # 4 steps of 2 batches: an epoch of 5 batches (3 steps), then 2 batches.
    Run(
        "accumulation_and_max_steps",
        {"max_epochs": 5, "max_steps": 4, "accumulate_grad_batches": 2},
        samples=20,
        steps=4,
        batches=7,
    ),
    # 6 batches an epoch, limited to 3.
    Run("limit_train_batches", {"max_epochs": 2, "limit_train_batches": 3}, 24, steps=6, batches=6),
]


class PlainModule(DictOutputModule):
    """A plain LightningModule (automatic optimization) scheduled by spt_optim."""

    @override
    def configure_optimizers(self) -> Any:
        return spt_optim.configure_optimizers(self, COSINE_SGD)


class LengthReader(pl.Callback):
    """At train start (after the probe's ``on_fit_start``): every consumer's length."""

    def __init__(self, probe: OnlineProbe) -> None:
        self.probe = probe
        self.read: dict[str, int] = {}
        self.batches = 0

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        length = spt_optim.length_from_module(pl_module)
        assert length is not None
        schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
        self.read = {
            "module T_max": schedulers[0].T_max,
            "length_from_module optimizer_steps": length.optimizer_steps(),
            "length_from_module training_batches": length.training_batches(),
            "probe T_max": self.probe.scheduler.T_max,
        }
        pairs = attach_teacher_updates(pl_module)
        if pairs:
            self.read["EMA total_steps"] = pairs[0].total_steps

    @override
    def on_train_batch_end(self, *args: Any) -> None:
        self.batches += 1


def _fit(module: pl.LightningModule, run: Run) -> tuple[LengthReader, pl.Trainer]:
    probe = OnlineProbe(
        module,
        name="probe",
        input="embedding",
        target="label",
        probe=nn.Linear(16, 3),
        optimizer={"type": "SGD", "lr": 0.01},
        scheduler="CosineAnnealingLR",
    )
    reader = LengthReader(probe)
    trainer = make_trainer(callbacks=[probe, reader], limit_val_batches=0, **run.trainer)
    trainer.fit(module, make_dataloader(n=run.samples, batch_size=4))
    return reader, trainer


def _expected(run: Run, with_ema: bool) -> dict[str, int]:
    expected = {
        "module T_max": run.steps,
        "length_from_module optimizer_steps": run.steps,
        "length_from_module training_batches": run.batches,
        "probe T_max": run.batches,
    }
    if with_ema:
        expected["EMA total_steps"] = run.steps
    return expected


@pytest.mark.parametrize("run", RUNS, ids=[run.name for run in RUNS])
def test_spt_module_run_length_agrees_everywhere(run: Run) -> None:
    torch.manual_seed(0)
    module = Module(
        forward=classification_forward,
        backbone=TeacherStudent(nn.Sequential(nn.Linear(8, 16), nn.ReLU())),
        head=nn.Linear(16, 3),
        optim=COSINE_SGD,
    )
    reader, trainer = _fit(module, run)
    assert (trainer.global_step, reader.batches) == (run.steps, run.batches)
    assert reader.read == _expected(run, with_ema=True)


@pytest.mark.parametrize("run", RUNS, ids=[run.name for run in RUNS])
def test_plain_lightning_module_run_length_agrees_everywhere(run: Run) -> None:
    torch.manual_seed(0)
    reader, trainer = _fit(PlainModule(), run)
    assert (trainer.global_step, reader.batches) == (run.steps, run.batches)
    assert reader.read == _expected(run, with_ema=False)
