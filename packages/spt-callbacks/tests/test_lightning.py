"""The Lightning internals spt_callbacks reads (``_lightning.py``), against the installed Lightning.

Each test fails when a Lightning release renames or changes what a function reads.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import lightning as pl
import pytest
from lightning.pytorch.loggers import Logger
from torch import nn
from typing_extensions import override

from spt_callbacks import OnlineKNN, OnlineProbe, RankMe
from spt_callbacks._lightning import callback_state_key, logs_this_step
from spt_module.testing import DictOutputModule, make_dataloader, make_trainer


class _StepsLogger(Logger):
    """Records the steps whose metrics reach a logger."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []

    @property
    @override
    def name(self) -> str:
        return "steps"

    @property
    @override
    def version(self) -> int:
        return 0

    @override
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if any(key.startswith("train_loss") for key in metrics):
            assert step is not None
            self.steps.append(step)

    @override
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        return None


class _LoggedLoss(DictOutputModule):
    def training_step(self, batch: Any, batch_idx: int) -> Any:
        out = super().training_step(batch, batch_idx)
        self.log("train_loss", out["loss"].detach(), on_step=True, on_epoch=False)
        return out


class _RecordLogsThisStep(pl.Callback):
    def __init__(self) -> None:
        self.answers: list[tuple[int, bool, bool]] = []

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.answers.append((trainer.global_step, logs_this_step(trainer), trainer.is_last_batch))


def test_logs_this_step_is_true_on_the_steps_lightning_logs_and_on_epoch_ends() -> None:
    logger = _StepsLogger()
    record = _RecordLogsThisStep()
    trainer = make_trainer(max_epochs=2, log_every_n_steps=3, logger=logger, callbacks=[record])
    trainer.fit(_LoggedLoss(hidden=16), make_dataloader(n=80, batch_size=16))  # 5 batches
    logged = {step for step, answer, last in record.answers if answer and not last}
    # global_step counts the batch that just ran, so the logger's step is one less.
    assert logged == {step + 1 for step in logger.steps}
    assert logged  # the run logs at all
    assert [answer for _, answer, last in record.answers if last] == [True, True]
    assert [step for step, answer, _ in record.answers if answer] == [3, 5, 6, 9, 10]


def test_logs_this_step_has_no_fallback() -> None:
    with pytest.raises(AttributeError, match="_logger_connector"):
        logs_this_step(SimpleNamespace(is_last_batch=True))  # type: ignore[arg-type]


def test_state_keys_name_the_class_and_the_name() -> None:
    # The key under which a checkpoint holds each callback's state.
    probe = OnlineProbe(None, name="linear", probe=nn.Linear(2, 2))
    knn = OnlineKNN(name="knn", input="embedding", target="label", queue_length=4, k=2)
    rank = RankMe(name="rank", input="embedding", queue_length=4)
    assert probe.state_key == "OnlineProbe{'name': 'linear'}"
    assert knn.state_key == "OnlineKNN{'name': 'knn'}"
    assert rank.state_key == callback_state_key(rank, name="rank") == "RankMe{'name': 'rank'}"
