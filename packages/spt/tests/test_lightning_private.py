"""Each Lightning private attribute spt reads (``spt._lightning``), against the installed Lightning.

A rename in Lightning makes one of these tests fail: the functions have no fallback.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import lightning as pl
import pytest
from lightning.fabric.plugins.environments import LightningEnvironment, SLURMEnvironment
from torch import nn
from torch.utils.data import DataLoader

from spt._lightning import attached_trainer, cluster_environment, is_last_batch
from spt_module.testing import RandomDictDataset, make_module, make_trainer


class _Recorder(pl.Callback):
    def __init__(self) -> None:
        self.trainers: list[Any] = []
        self.last: list[bool] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, *args: Any) -> None:
        self.trainers.append(attached_trainer(pl_module))
        self.last.append(is_last_batch(trainer))


def test_attached_trainer_is_none_before_fit_and_the_trainer_during_it() -> None:
    module = make_module()
    assert attached_trainer(module) is None
    recorder = _Recorder()
    trainer = make_trainer(max_epochs=1, callbacks=[recorder])
    trainer.fit(module, DataLoader(RandomDictDataset(n=12), batch_size=4))
    assert recorder.trainers == [trainer] * 3


def test_attached_trainer_of_a_plain_network_is_none() -> None:
    assert attached_trainer(nn.Linear(2, 2)) is None


def test_attached_trainer_reads_the_private_attribute_without_fallback() -> None:
    module = make_module()
    del module._trainer  # what a Lightning that renamed it would look like
    with pytest.raises(AttributeError, match="_trainer"):
        attached_trainer(module)


def test_is_last_batch_marks_the_last_batch_of_each_epoch() -> None:
    recorder = _Recorder()
    trainer = make_trainer(max_epochs=2, callbacks=[recorder])
    trainer.fit(make_module(), DataLoader(RandomDictDataset(n=12), batch_size=4))
    assert recorder.last == [False, False, True] * 2


def test_cluster_environment_of_a_single_device_trainer() -> None:
    trainer = make_trainer()
    assert getattr(trainer.strategy, "cluster_environment", None) is None  # single device
    assert isinstance(cluster_environment(trainer), LightningEnvironment)
    slurm = make_trainer(plugins=[SLURMEnvironment(auto_requeue=False)])
    assert isinstance(cluster_environment(slurm), SLURMEnvironment)


def test_cluster_environment_has_no_fallback() -> None:
    trainer = SimpleNamespace(strategy=SimpleNamespace())
    with pytest.raises(AttributeError, match="_accelerator_connector"):
        cluster_environment(trainer)  # type: ignore[arg-type]
