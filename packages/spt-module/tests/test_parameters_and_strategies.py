"""Callback-parameter exclusion, FSDP1 rejection, the "fsdp2" strategy name, configure_model."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as pl
import pytest
from lightning.pytorch.strategies import FSDPStrategy, StrategyRegistry
from torch import nn

from spt_module import FSDP2Strategy
from spt_module.testing import make_module


def module_with_callback_modules():
    module = make_module()
    module.callbacks_modules = nn.ModuleDict({"probe": nn.Linear(16, 3)})
    module.callbacks_metrics = nn.ModuleDict({"knn": nn.Linear(2, 2)})
    return module


def test_callback_parameters_are_excluded_everywhere():
    module = module_with_callback_modules()
    names = [name for name, _ in module.named_parameters()]
    assert names
    assert not any(name.startswith("callbacks_") for name in names)
    assert len(list(module.parameters())) == len(names) == 6
    everything = [name for name, _ in module.named_parameters(with_callbacks=True)]
    assert "callbacks_modules.probe.weight" in everything
    assert len(everything) == 10
    module.configure_optimizers()
    (entry,) = module.optimizer_entries
    assert not any(name.startswith("callbacks_") for name in entry.parameter_names)
    assert len(entry.parameter_names) == 6


def test_named_parameters_accepts_remove_duplicate_and_prefix():
    module = make_module()
    module.tied = module.head  # the same parameters under two names
    assert len(list(module.named_parameters())) == 6
    assert len(list(module.named_parameters(remove_duplicate=False))) == 8
    assert next(module.named_parameters(prefix="m"))[0].startswith("m.")


def test_fsdp1_is_rejected_in_setup_pointing_to_fsdp2():
    module = make_module()
    module._trainer = SimpleNamespace(strategy=FSDPStrategy())
    with pytest.raises(ValueError, match=r"strategy='fsdp2'"):
        module.setup("fit")


def test_importing_spt_module_registers_fsdp2():
    assert "fsdp2" in StrategyRegistry
    trainer = pl.Trainer(strategy="fsdp2", accelerator="cpu", devices=1, logger=False)
    assert isinstance(trainer.strategy, FSDP2Strategy)


def test_configure_model_applies_parallelize_fn_once_when_a_mesh_exists():
    calls = []
    module = make_module(parallelize_fn=lambda m, mesh: calls.append((m, mesh)))
    module.configure_model()
    assert calls == []  # no mesh: single device or DDP
    module._device_mesh = "mesh"
    module.configure_model()
    module.configure_model()
    assert calls == [(module, "mesh")]
