"""``spt_module._lightning`` against the locked Lightning: each private read does what it says.

A test here fails when Lightning renames or moves what one of these functions reads.
"""

from __future__ import annotations

import lightning as pl
import torch

from spt_module import FSDP2Strategy
from spt_module._lightning import (
    attached_trainer,
    epoch_completed,
    logs_this_step,
    put_devices_on_data_parallel_axis,
)
from spt_module.testing import make_dataloader, make_module, make_trainer


class Probe(pl.Callback):
    """Records what the ``_lightning`` functions answer during a fit."""

    def __init__(self):
        self.trainers, self.logs, self.epochs = [], [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.trainers.append(attached_trainer(pl_module))
        self.logs.append(logs_this_step(trainer))

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs.append(epoch_completed(trainer))


def test_attached_trainer_is_none_until_a_fit_attaches_one():
    module = make_module()
    assert attached_trainer(module) is None
    probe = Probe()
    trainer = make_trainer(callbacks=[probe])
    trainer.fit(module, make_dataloader(n=8, batch_size=4))
    assert probe.trainers == [trainer, trainer]


def test_logs_this_step_follows_log_every_n_steps():
    probe = Probe()
    trainer = make_trainer(max_epochs=2, log_every_n_steps=2, callbacks=[probe])
    trainer.fit(make_module(), make_dataloader(n=12, batch_size=4))  # 3 batches an epoch
    assert probe.logs == [False, True, False, True, False, True]


def test_epoch_completed_is_false_for_an_epoch_cut_by_max_steps():
    probe = Probe()
    trainer = make_trainer(max_epochs=3, max_steps=5, callbacks=[probe])
    trainer.fit(make_module(), make_dataloader(n=12, batch_size=4))  # 3 batches an epoch
    assert probe.epochs == [True, False]


def test_put_devices_on_data_parallel_axis_resolves_auto_sizes():
    strategy = FSDP2Strategy()
    strategy.parallel_devices = [torch.device("cpu")] * 2
    put_devices_on_data_parallel_axis(strategy)
    assert (strategy._data_parallel_size, strategy._tensor_parallel_size) == (2, 1)
    given = FSDP2Strategy(data_parallel_size=1, tensor_parallel_size=2)
    put_devices_on_data_parallel_axis(given)
    assert (given._data_parallel_size, given._tensor_parallel_size) == (1, 2)
