"""Optimizer specs through spt_optim, scheduler intervals and frequencies, lr logging, the table."""

from __future__ import annotations

import logging

import lightning as pl
import pytest
import torch
from torch import nn

from spt_module import Module
from spt_module.testing import classification_forward, make_dataloader, make_module, make_trainer
from spt_optim.testing import ROUTING_EXAMPLE_OPTIM, routing_example_model


class LrRecorder(pl.Callback):
    """Learning rates of every optimizer at the start of each epoch and after every batch."""

    def __init__(self):
        self.epoch_start, self.after_batch = [], []

    def on_train_epoch_start(self, trainer, pl_module):
        self.epoch_start.append([o.param_groups[0]["lr"] for o in trainer.optimizers])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after_batch.append([o.param_groups[0]["lr"] for o in trainer.optimizers])


def test_default_is_adamw_with_cosine_over_the_whole_run():
    module = make_module(optim=None)
    trainer = make_trainer(max_epochs=2)
    trainer.fit(module, make_dataloader(n=12, batch_size=4))
    (entry,) = module.optimizer_entries
    assert type(entry.optimizer) is torch.optim.AdamW
    assert type(entry.scheduler) is torch.optim.lr_scheduler.CosineAnnealingLR
    assert entry.interval == "step"
    assert entry.scheduler.T_max == 6  # 2 epochs x 3 batches
    assert entry.scheduler.last_epoch == 6
    assert entry.optimizer.param_groups[0]["lr"] == pytest.approx(entry.scheduler.eta_min)


def test_default_length_counts_accumulation():
    module = make_module(optim=None)
    trainer = make_trainer(max_epochs=2, accumulate_grad_batches=3)
    trainer.fit(module, make_dataloader(n=24, batch_size=4))  # 6 batches -> 2 steps an epoch
    entry = module.optimizer_entries[0]
    assert entry.scheduler.T_max == 4
    assert entry.scheduler.last_epoch == 4


def test_routing_example_routes_as_documented():
    model = routing_example_model()
    module = Module(
        forward=classification_forward,
        encoder=model.encoder,
        classifier_head=model.classifier_head,
        decoder=model.decoder,
        optim={**ROUTING_EXAMPLE_OPTIM, "unmatched": "ignore"},
    )
    configs = module.configure_optimizers()
    encoder, head = module.optimizer_entries
    assert encoder.name == "encoder_opt"
    assert head.name == "head_opt"
    assert sorted(encoder.parameter_names) == [
        "encoder.layer1.conv.bias",
        "encoder.layer1.conv.weight",
        "encoder.scale",
    ]
    assert sorted(head.parameter_names) == [
        "classifier_head.linear.bias",
        "classifier_head.linear.weight",
    ]
    assert type(encoder.optimizer) is torch.optim.AdamW
    assert type(encoder.scheduler) is torch.optim.lr_scheduler.OneCycleLR
    assert type(head.optimizer) is torch.optim.SGD
    assert type(head.scheduler) is torch.optim.lr_scheduler.ReduceLROnPlateau
    assert (head.monitor, head.interval, head.frequency) == ("val_accuracy", "epoch", 2)
    assert [c["optimizer"] for c in configs] == [encoder.optimizer, head.optimizer]


def test_non_dict_optim_spec_is_rejected_by_the_single_parser():
    with pytest.raises((TypeError, ValueError)):  # when the Module is built
        make_module(optim=[{"optimizer": "SGD"}])


def step_lr_optim(interval, scheduler_frequency):
    return {
        "optimizer": {"type": "SGD", "lr": 1.0},
        "scheduler": {"type": "StepLR", "step_size": 1, "gamma": 0.5},
        "interval": interval,
        "scheduler_frequency": scheduler_frequency,
    }


def test_step_scheduler_steps_every_frequency_optimizer_steps_with_accumulation():
    module = make_module(optim=step_lr_optim("step", 2))
    recorder = LrRecorder()
    trainer = make_trainer(accumulate_grad_batches=2, callbacks=[recorder])
    trainer.fit(module, make_dataloader(n=32, batch_size=4))  # 8 batches, 4 optimizer steps
    assert [lrs[0] for lrs in recorder.after_batch] == [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]
    assert module.optimizer_entries[0].scheduler.last_epoch == 2


def test_epoch_scheduler_steps_every_frequency_epochs():
    module = make_module(optim=step_lr_optim("epoch", 2))
    recorder = LrRecorder()
    trainer = make_trainer(max_epochs=5, callbacks=[recorder])
    trainer.fit(module, make_dataloader(n=8, batch_size=4))
    assert [lrs[0] for lrs in recorder.epoch_start] == [1, 1, 0.5, 0.5, 0.25]
    assert [lrs[0] for lrs in recorder.after_batch[:2]] == [1, 1]


VAL_SCORES = [3.0, 2.0, 2.5, 2.2, 2.1, 1.0, 1.5]


def plateau_forward(self, batch, stage):
    out = classification_forward(self, batch, stage)
    if stage == "validate":
        self.log("val_score", VAL_SCORES[self.current_epoch])
    return out


def test_reduce_on_plateau_steps_on_its_logged_monitor():
    optim = {
        "optimizer": {"type": "SGD", "lr": 1.0},
        "scheduler": {"type": "ReduceLROnPlateau", "patience": 1, "factor": 0.5},
        "monitor": "val_score",
        "interval": "epoch",
    }
    module = make_module(forward=plateau_forward, optim=optim)
    recorder = LrRecorder()
    trainer = make_trainer(max_epochs=len(VAL_SCORES), callbacks=[recorder])
    loader = make_dataloader(n=8, batch_size=4)
    trainer.fit(module, loader, loader)
    # Slow reference: torch's ReduceLROnPlateau fed the same scores once an epoch.
    reference_opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(reference_opt, patience=1, factor=0.5)
    expected = []
    for score in VAL_SCORES:
        expected.append(reference_opt.param_groups[0]["lr"])
        reference.step(score)
    assert [lrs[0] for lrs in recorder.epoch_start] == expected
    assert expected[-1] < expected[0]  # the reference did reduce: the test can fail


def test_reduce_on_plateau_without_its_metric_is_a_clear_error():
    optim = {
        "optimizer": {"type": "SGD", "lr": 1.0},
        "scheduler": {"type": "ReduceLROnPlateau"},
        "monitor": "val_never",
        "interval": "epoch",
    }
    module = make_module(optim=optim)
    loader = make_dataloader(n=8, batch_size=4)
    with pytest.raises(ValueError, match="ReduceLROnPlateau monitors 'val_never', which was never"):
        make_trainer().fit(module, loader, loader)


def test_lr_is_logged_per_optimizer_only_at_log_every_n_steps():
    optim = {
        "bb": {"modules": "backbone", "optimizer": {"type": "SGD", "lr": 0.3}, "scheduler": None},
        "hd": {"modules": "head", "optimizer": {"type": "SGD", "lr": 0.7}, "scheduler": None},
    }
    logged = []

    class Spy(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            logged.append({k: v for k, v in trainer.callback_metrics.items() if "lr" in k})

    trainer = make_trainer(log_every_n_steps=2, callbacks=[Spy()])
    trainer.fit(make_module(optim=optim), make_dataloader(n=12, batch_size=4))
    assert logged[0] == {}  # batch 1 of 3: not a logging step
    assert {k: float(v) for k, v in logged[1].items()} == {
        "hparams/lr_bb": pytest.approx(0.3),
        "hparams/lr_hd": pytest.approx(0.7),
    }


def test_optimizer_table_at_train_start(caplog):
    optim = {
        "bb": {
            "modules": "backbone",
            "optimizer": {"type": "SGD", "lr": 0.3},
            "scheduler": None,
            "gradient_clip_val": 0.25,
            "gradient_clip_algorithm": "value",
        },
        "hd": {"modules": "head", "optimizer": "Adam", "scheduler": None, "frequency": 3},
    }
    with caplog.at_level(logging.INFO):
        make_trainer(gradient_clip_val=2.0).fit(
            make_module(optim=optim), make_dataloader(n=4, batch_size=4)
        )
    text = caplog.text[caplog.text.index("Optimizers:") :]
    lines = text.splitlines()
    header = lines[1].split()
    assert header[:4] == ["index", "name", "class", "parameters"]
    assert {"frequency", "clip_val", "clip_algorithm"} <= set(header)
    bb = next(line for line in lines if " bb " in line).split()
    hd = next(line for line in lines if " hd " in line).split()
    assert bb[:3] == ["0", "bb", "SGD"]
    assert bb[-2:] == ["0.25", "value"]
    assert hd[:3] == ["1", "hd", "Adam"]
    assert hd[-3:] == ["3", "2", "norm"]
    assert "4 tensors, 416 values" in text  # backbone: (8*16+16) + (16*16+16)


def test_step_interval_plateau_waits_for_its_metric_then_steps_every_step():
    optim = {
        "optimizer": {"type": "SGD", "lr": 1.0},
        "scheduler": {"type": "ReduceLROnPlateau", "patience": 0, "factor": 0.5},
        "monitor": "val_score",
        "interval": "step",
    }
    module = make_module(forward=plateau_forward, optim=optim)
    recorder = LrRecorder()
    trainer = make_trainer(max_epochs=3, callbacks=[recorder])
    loader = make_dataloader(n=8, batch_size=4)  # 2 steps an epoch
    trainer.fit(module, loader, loader)
    reference_opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(reference_opt, patience=0, factor=0.5)
    expected = []
    for epoch in range(3):
        for _ in range(2):
            if epoch > 0:  # no validation score before the first validation
                reference.step(VAL_SCORES[epoch - 1])
            expected.append(reference_opt.param_groups[0]["lr"])
    assert [lrs[0] for lrs in recorder.after_batch] == expected
    assert expected[-1] < 1.0


def test_step_interval_plateau_without_its_metric_fails_at_the_end_of_the_epoch():
    optim = {
        "optimizer": {"type": "SGD", "lr": 1.0},
        "scheduler": {"type": "ReduceLROnPlateau"},
        "interval": "step",
    }
    trainer = make_trainer(max_epochs=2)
    with pytest.raises(ValueError, match="monitors 'val_loss', which was never logged"):
        trainer.fit(make_module(optim=optim), make_dataloader(n=8, batch_size=4))
    assert trainer.global_step == 2  # the first epoch trained, waiting for the metric
