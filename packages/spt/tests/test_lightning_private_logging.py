"""The Lightning private state the run log reads (``spt._lightning``), on the installed version.

A rename in Lightning makes one of these tests fail: the functions have no fallback.
"""

from __future__ import annotations

from typing import Any

import lightning as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from spt._lightning import epoch_accumulators, logged_step, resume_epoch_accumulators
from spt_module.testing import RandomDictDataset, make_trainer


class _LogsBatchIndex(pl.LightningModule):
    """Logs ``batch_idx`` as an epoch mean ``v`` (batch size 1) and as a step value ``s``."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.log("v", float(batch_idx), on_step=False, on_epoch=True, batch_size=1)
        self.log("s", float(batch_idx), on_step=True, on_epoch=False)
        return (self.w * batch["x"].sum()).pow(2)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _loader(n: int = 16) -> DataLoader[Any]:
    return DataLoader(RandomDictDataset(n=n), batch_size=4)  # 4 batches


class _Recorder(pl.Callback):
    def __init__(self, capture_after: int | None = None) -> None:
        self.steps: list[int] = []
        self.epoch_steps: list[int] = []
        self.capture_after = capture_after
        self.captured: list[dict[str, Any]] | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, *args: Any) -> None:
        self.steps.append(logged_step(trainer))
        if self.capture_after is not None and len(self.steps) == self.capture_after + 1:
            self.captured = epoch_accumulators(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self.epoch_steps.append(logged_step(trainer))


def test_logged_step_is_the_step_lightning_gives_the_rows() -> None:
    recorder = _Recorder()
    trainer = make_trainer(max_epochs=2, callbacks=[recorder])
    trainer.fit(_LogsBatchIndex(), _loader())
    assert recorder.steps == [0, 1, 2, 3, 4, 5, 6, 7]
    assert recorder.epoch_steps == [4, 8]  # one more than the epoch's last row


def test_epoch_accumulators_hold_the_running_sum_and_count_of_epoch_means() -> None:
    recorder = _Recorder(capture_after=2)  # after batches 0, 1 and 2
    trainer = make_trainer(max_epochs=1, callbacks=[recorder])
    trainer.fit(_LogsBatchIndex(), _loader())
    assert recorder.captured is not None
    (entry,) = recorder.captured  # "s" is logged on the step only: nothing accumulates
    assert (entry["name"], entry["fx"], entry["reduce_fx"]) == ("v", "training_step", "torch.mean")
    assert float(entry["value"]) == 0.0 + 1.0 + 2.0
    assert int(entry["cumulated_batch_size"]) == 3


class _Restore(pl.Callback):
    def __init__(self, saved: list[dict[str, Any]]) -> None:
        self.saved: list[dict[str, Any]] | None = saved

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.saved is not None:
            resume_epoch_accumulators(trainer, self.saved)
            self.saved = None


def test_resumed_accumulators_survive_the_first_batch_and_end_in_the_epoch_mean() -> None:
    recorder = _Recorder(capture_after=2)
    make_trainer(max_epochs=1, callbacks=[recorder]).fit(_LogsBatchIndex(), _loader())
    assert recorder.captured is not None
    trainer = make_trainer(
        max_epochs=1, limit_train_batches=2, callbacks=[_Restore(recorder.captured)]
    )
    trainer.fit(_LogsBatchIndex(), _loader())  # logs 0 and 1 on top of the saved 0 + 1 + 2
    assert float(trainer.callback_metrics["v"]) == pytest.approx((3.0 + 0.0 + 1.0) / 5)
    assert float(trainer.callback_metrics["s"]) == 1.0  # step values are untouched
