"""The documented optimizer and scheduler names, as ``spt_optim`` specs built there."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau, StepLR

from spt.pretrain import SSLPretrainModule, optimizer_names, scheduler_names
from spt.pretrain.optim import build_optim_spec, optimizer_spec, scheduler_spec
from spt_module.testing import make_trainer
from spt_optim import LinearWarmupCosineAnnealing

# The optimizer and scheduler sections of the documented examples.
DOCUMENTED_OPTIMIZERS = {
    "adamw": ({"name": "adamw", "lr": 1.0e-3, "weight_decay": 0.01}, torch.optim.AdamW),
    "adam": ({"name": "adam", "lr": 1.0e-3, "weight_decay": 0.0}, torch.optim.Adam),
    "sgd": (
        {"name": "sgd", "lr": 1.0e-2, "weight_decay": 1.0e-4, "momentum": 0.9},
        torch.optim.SGD,
    ),
}
DOCUMENTED_SCHEDULERS = {
    "cosine": {"name": "cosine", "T_max": 100, "eta_min": 0.0},
    "step": {"name": "step", "step_size": 30, "gamma": 0.1},
    "plateau": {"name": "plateau", "mode": "min", "factor": 0.1, "patience": 10},
    "warmup_cosine": {
        "name": "warmup_cosine",
        "warmup_epochs": 10,
        "max_epochs": 100,
        "eta_min": 1.0e-6,
    },
}


def test_names() -> None:
    assert optimizer_names() == ["adam", "adamw", "sgd"]
    assert scheduler_names() == ["cosine", "plateau", "step", "warmup_cosine"]


@pytest.mark.parametrize("name", sorted(DOCUMENTED_OPTIMIZERS))
def test_documented_optimizer_sections(make_config: Any, name: str) -> None:
    section, cls = DOCUMENTED_OPTIMIZERS[name]
    module = SSLPretrainModule(make_config(optimizer=section))
    module.configure_optimizers()
    (entry,) = module.optimizer_entries
    optimizer = entry.optimizer
    assert type(optimizer) is cls
    for key in ("lr", "weight_decay", "momentum"):
        if key in section:
            assert optimizer.defaults[key] == section[key], key
    names = {n for n, p in module.named_parameters()}
    assert set(entry.parameter_names) == names  # every parameter, in one optimizer


def test_optimizer_name_is_case_insensitive() -> None:
    assert optimizer_spec({"name": "AdamW", "lr": 0.1}) == {"type": "AdamW", "lr": 0.1}


def test_betas_list_from_yaml_becomes_tuple() -> None:
    spec = optimizer_spec({"name": "adam", "betas": [0.9, 0.95]})
    assert spec["betas"] == (0.9, 0.95)


def test_unknown_optimizer_lists_known(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"optimizer.name='lamb'; known: adam, adamw, sgd"):
        SSLPretrainModule(make_config(optimizer={"name": "lamb", "lr": 1e-3}))


def test_optimizer_keyword_it_does_not_take_fails_in_constructor(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"optimizer.*'AdamW'.*momentum"):
        SSLPretrainModule(make_config(optimizer={"name": "adamw", "momentum": 0.9}))


@pytest.mark.parametrize("name", ["cosine", "step", "plateau"])
def test_documented_epoch_scheduler_sections(make_config: Any, name: str) -> None:
    section = DOCUMENTED_SCHEDULERS[name]
    module = SSLPretrainModule(make_config(scheduler=section))
    module.configure_optimizers()
    (entry,) = module.optimizer_entries
    scheduler = entry.scheduler
    assert entry.interval == "epoch"  # the documented counts are epochs
    if name == "cosine":
        assert isinstance(scheduler, CosineAnnealingLR)
        assert (scheduler.T_max, scheduler.eta_min) == (100, 0.0)
    elif name == "step":
        assert isinstance(scheduler, StepLR)
        assert (scheduler.step_size, scheduler.gamma) == (30, 0.1)
    else:
        assert isinstance(scheduler, ReduceLROnPlateau)
        assert (scheduler.mode, scheduler.factor, scheduler.patience) == ("min", 0.1, 10)
        assert entry.monitor == "val/loss"


def test_warmup_cosine_counts_epochs_as_optimizer_steps(
    make_config: Any, loaders: tuple[Any, Any]
) -> None:
    section = {"name": "warmup_cosine", "warmup_epochs": 1, "max_epochs": 2, "eta_min": 1e-6}
    module = SSLPretrainModule(make_config(scheduler=section))
    lrs: list[float] = []
    trainer = make_trainer(max_epochs=2, limit_val_batches=0)
    module.decoder.register_forward_pre_hook(
        lambda m, args: lrs.append(module.optimizer_entries[0].optimizer.param_groups[0]["lr"])
    )
    trainer.fit(module, train_dataloaders=loaders[0])  # 4 batches per epoch
    (entry,) = module.optimizer_entries
    scheduler = entry.scheduler
    assert isinstance(scheduler, LinearWarmupCosineAnnealing)
    assert entry.interval == "step"
    assert (scheduler.warmup_steps, scheduler.total_steps) == (4, 8)
    assert scheduler.eta_min == 1e-6
    assert lrs[0] < lrs[2] < lrs[4] == pytest.approx(3e-3)  # warm up over the first epoch
    assert lrs[4] > lrs[6] > lrs[7]  # then decay
    assert entry.optimizer.param_groups[0]["lr"] == pytest.approx(1e-6)


def test_warmup_cosine_epochs_count_accumulated_steps(
    make_config: Any, loaders: tuple[Any, Any]
) -> None:
    section = {"name": "warmup_cosine", "warmup_epochs": 1, "max_epochs": 2}
    module = SSLPretrainModule(make_config(scheduler=section))
    trainer = make_trainer(max_epochs=2, accumulate_grad_batches=2, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=loaders[0])  # 4 batches -> 2 optimizer steps
    scheduler = module.optimizer_entries[0].scheduler
    assert (scheduler.warmup_steps, scheduler.total_steps) == (2, 4)
    assert trainer.global_step == 4


def test_cosine_without_t_max_spans_the_run(make_config: Any, loaders: tuple[Any, Any]) -> None:
    module = SSLPretrainModule(make_config(scheduler={"name": "cosine", "eta_min": 1e-5}))
    make_trainer(max_epochs=3, limit_val_batches=0).fit(module, train_dataloaders=loaders[0])
    (entry,) = module.optimizer_entries
    assert entry.scheduler.T_max == 3  # filled by spt_optim from the trainer
    assert entry.optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)


def test_plateau_reads_val_loss(make_config: Any, loaders: tuple[Any, Any]) -> None:
    section = {"name": "plateau", "mode": "min", "factor": 0.5, "patience": 0}
    module = SSLPretrainModule(make_config(scheduler=section))
    trainer = make_trainer(max_epochs=1)
    trainer.fit(module, *loaders)
    scheduler = module.optimizer_entries[0].scheduler
    assert scheduler.best == pytest.approx(float(trainer.callback_metrics["val/loss"]))


def test_step_interval_override() -> None:
    spec = scheduler_spec({"name": "cosine", "T_max": 500, "interval": "step"})
    assert spec == {"scheduler": {"type": "CosineAnnealingLR", "T_max": 500}, "interval": "step"}


def test_unknown_scheduler_lists_known(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"scheduler.name='onecycle'; known: cosine, plateau"):
        SSLPretrainModule(make_config(scheduler={"name": "onecycle"}))


def test_scheduler_key_it_does_not_take_is_named(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"scheduler 'step' does not accept 'T_max'"):
        SSLPretrainModule(make_config(scheduler={"name": "step", "T_max": 10}))


def test_no_scheduler_means_constant_lr() -> None:
    spec = build_optim_spec({"name": "sgd", "lr": 0.1}, None)
    assert spec == {"optimizer": {"type": "SGD", "lr": 0.1}, "scheduler": None}
