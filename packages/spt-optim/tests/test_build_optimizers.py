"""The ``optim`` spec turned into optimizers and Lightning's dict format."""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler

from spt_optim import (
    OptimizerEntry,
    TrainingLength,
    UnmatchedParametersWarning,
    build_optimizers,
    configure_optimizers,
    length_from_module,
)
from spt_optim.testing import ROUTING_EXAMPLE_OPTIM

LENGTH = TrainingLength(max_epochs=4, batches_per_epoch=10)


def test_routing_example_builds_both_optimizers(routing_model: nn.Module) -> None:
    with pytest.warns(UnmatchedParametersWarning, match=r"decoder\.weight"):
        entries = build_optimizers(routing_model, ROUTING_EXAMPLE_OPTIM, LENGTH)
    enc, head = entries
    assert (enc.name, head.name) == ("encoder_opt", "head_opt")
    assert type(enc.optimizer) is torch.optim.AdamW
    assert enc.optimizer.defaults["lr"] == 1e-3
    assert isinstance(enc.scheduler, lr_scheduler.OneCycleLR)
    assert enc.scheduler.total_steps == 10000  # given, never replaced by the default
    assert enc.parameter_names == [
        "encoder.scale",
        "encoder.layer1.conv.weight",
        "encoder.layer1.conv.bias",
    ]
    assert type(head.optimizer) is torch.optim.SGD
    assert isinstance(head.scheduler, lr_scheduler.ReduceLROnPlateau)
    assert (head.scheduler.mode, head.scheduler.patience, head.scheduler.factor) == ("max", 5, 0.5)
    assert head.parameter_names == ["classifier_head.linear.weight", "classifier_head.linear.bias"]
    assert (head.interval, head.frequency, head.monitor) == ("epoch", 2, "val_accuracy")
    assert head.lightning_dict() == {
        "optimizer": head.optimizer,
        "lr_scheduler": {
            "scheduler": head.scheduler,
            "interval": "epoch",
            "frequency": 1,
            "name": "head_opt",
            "monitor": "val_accuracy",
        },
    }
    assert enc.lightning_dict()["lr_scheduler"] == {
        "scheduler": enc.scheduler,
        "interval": "step",
        "frequency": 1,
        "name": "encoder_opt",
    }


def test_single_optimizer_example() -> None:
    optim = {
        "optimizer": functools.partial(torch.optim.AdamW, lr=1e-3),
        "scheduler": "CosineAnnealingLR",
        "interval": "step",
        "frequency": 1,
    }
    out = configure_optimizers(nn.Linear(3, 2), optim, length=LENGTH)
    assert type(out["optimizer"]) is torch.optim.AdamW
    config = out["lr_scheduler"]
    assert isinstance(config["scheduler"], lr_scheduler.CosineAnnealingLR)
    assert config["scheduler"].T_max == 40
    assert config == {
        "scheduler": config["scheduler"],
        "interval": "step",
        "frequency": 1,
        "name": "default",
    }


def test_default_is_adamw_with_cosine_annealing() -> None:
    (entry,) = build_optimizers(nn.Linear(3, 2), None, LENGTH)
    assert entry.name == "default"
    assert type(entry.optimizer) is torch.optim.AdamW
    assert (
        entry.optimizer.defaults["lr"]
        == torch.optim.AdamW([nn.Parameter(torch.ones(1))]).defaults["lr"]
    )
    assert isinstance(entry.scheduler, lr_scheduler.CosineAnnealingLR)
    assert (entry.scheduler.T_max, entry.interval) == (40, "step")


def test_optim_false_means_no_optimizer() -> None:
    assert build_optimizers(nn.Linear(3, 2), False) == []
    assert configure_optimizers(nn.Linear(3, 2), False) is None


def test_a_bare_optimizer_spec_and_no_scheduler() -> None:
    out = configure_optimizers(nn.Linear(3, 2), {"optimizer": "SGD", "scheduler": None})
    assert set(out) == {"optimizer"}
    assert type(out["optimizer"]) is torch.optim.SGD
    out = configure_optimizers(nn.Linear(3, 2), {"type": "SGD", "lr": 0.3}, length=LENGTH)
    assert out["optimizer"].defaults["lr"] == 0.3
    assert out["lr_scheduler"]["name"] == "default"


def test_a_single_optimizer_dict_without_optimizer_uses_adamw() -> None:
    (entry,) = build_optimizers(
        nn.Linear(3, 2), {"scheduler": "StepLR", "interval": "epoch"}, LENGTH
    )
    assert type(entry.optimizer) is torch.optim.AdamW
    assert isinstance(entry.scheduler, lr_scheduler.StepLR)
    assert entry.scheduler.step_size == 4 // 3


def test_single_optimizer_may_be_named() -> None:
    (entry,) = build_optimizers(nn.Linear(3, 2), {"optimizer": "SGD", "name": "main"}, LENGTH)
    assert entry.name == "main"
    assert entry.lightning_dict()["lr_scheduler"]["name"] == "main"


def test_several_optimizers_return_a_list_of_dicts(routing_model: nn.Module) -> None:
    optim = {
        "enc": {"modules": "encoder", "optimizer": "SGD"},
        "rest": {"modules": "decoder|classifier_head", "optimizer": "Adam"},
    }
    out = configure_optimizers(routing_model, optim, length=LENGTH)
    assert isinstance(out, list)
    assert [type(d["optimizer"]).__name__ for d in out] == ["SGD", "Adam"]
    assert [d["lr_scheduler"]["name"] for d in out] == ["enc", "rest"]


def test_reduce_on_plateau_monitors_val_loss_by_default() -> None:
    (entry,) = build_optimizers(
        nn.Linear(3, 2), {"optimizer": "SGD", "scheduler": "ReduceLROnPlateau"}, LENGTH
    )
    assert (entry.monitor, entry.interval) == ("val_loss", "epoch")
    assert entry.lightning_dict()["lr_scheduler"]["monitor"] == "val_loss"


def test_other_schedulers_have_no_monitor() -> None:
    (entry,) = build_optimizers(nn.Linear(3, 2), {"optimizer": "SGD"}, LENGTH)
    assert entry.monitor is None
    assert "monitor" not in entry.lightning_dict()["lr_scheduler"]


def test_interval_frequency_and_monitor_inside_the_scheduler_dict() -> None:
    scheduler = {
        "type": "ReduceLROnPlateau",
        "monitor": "val_acc",
        "interval": "step",
        "frequency": 5,
        "mode": "max",
    }
    (entry,) = build_optimizers(nn.Linear(3, 2), {"optimizer": "SGD", "scheduler": scheduler})
    assert entry.lightning_dict()["lr_scheduler"] == {
        "scheduler": entry.scheduler,
        "interval": "step",
        "frequency": 5,
        "name": "default",
        "monitor": "val_acc",
    }
    assert isinstance(entry.scheduler, lr_scheduler.ReduceLROnPlateau)
    assert entry.scheduler.mode == "max"


def test_the_same_value_in_both_places_is_accepted() -> None:
    optim = {
        "optimizer": "SGD",
        "scheduler": {"type": "ReduceLROnPlateau", "monitor": "m"},
        "monitor": "m",
    }
    (entry,) = build_optimizers(nn.Linear(3, 2), optim)
    assert entry.monitor == "m"


@pytest.mark.parametrize(
    ("key", "beside", "inside"),
    [("monitor", "a", "b"), ("interval", "step", "epoch"), ("scheduler_frequency", 2, 3)],
)
def test_conflicting_values_beside_and_inside_are_an_error(
    key: str, beside: Any, inside: Any
) -> None:
    inner_key = "frequency" if key == "scheduler_frequency" else key
    optim = {
        "optimizer": "SGD",
        "scheduler": {"type": "ReduceLROnPlateau", inner_key: inside},
        key: beside,
    }
    with pytest.raises(
        ValueError, match=f"'{key}' is {beside!r} beside the optimizer but {inside!r}"
    ):
        build_optimizers(nn.Linear(3, 2), optim)


def test_scheduler_length_uses_accumulation_and_optimizer_frequency(
    routing_model: nn.Module,
) -> None:
    # 10 batches per epoch, accumulating 3: ceil(10 / 3) = 4 steps per epoch; 4 epochs.
    length = TrainingLength(max_epochs=4, batches_per_epoch=10, accumulate_grad_batches=3)
    optim = {
        "every": {"modules": "encoder", "optimizer": "SGD"},
        "second": {"modules": ".*head$", "optimizer": "SGD", "frequency": 2},
        "epochs": {"modules": "decoder", "optimizer": "SGD", "interval": "epoch"},
    }
    every, second, epochs = build_optimizers(routing_model, optim, length)
    assert isinstance(every.scheduler, lr_scheduler.CosineAnnealingLR)
    assert isinstance(second.scheduler, lr_scheduler.CosineAnnealingLR)
    assert isinstance(epochs.scheduler, lr_scheduler.CosineAnnealingLR)
    assert every.scheduler.T_max == 16  # the reference used 40 batches here (defect 2)
    assert second.scheduler.T_max == 8
    assert epochs.scheduler.T_max == 4  # the reference stepped "epoch" schedules per step


def test_scheduler_frequency_divides_the_schedule_length() -> None:
    optim = {"optimizer": "SGD", "scheduler_frequency": 4}
    (entry,) = build_optimizers(nn.Linear(3, 2), optim, LENGTH)
    assert isinstance(entry.scheduler, lr_scheduler.CosineAnnealingLR)
    assert entry.scheduler.T_max == 10
    assert entry.lightning_dict()["lr_scheduler"]["frequency"] == 4


def test_clipping_settings_are_carried(routing_model: nn.Module) -> None:
    optim = {"optimizer": "SGD", "gradient_clip_val": 1, "gradient_clip_algorithm": "value"}
    (entry,) = build_optimizers(nn.Linear(3, 2), optim, LENGTH)
    assert (entry.gradient_clip_val, entry.gradient_clip_algorithm) == (1.0, "value")


def test_exclude_bias_and_norm_makes_a_no_decay_group(ssl_model: nn.Module) -> None:
    optim = {
        "backbone": {
            "modules": "backbone",
            "optimizer": {"type": "AdamW", "weight_decay": 0.05},
            "exclude_bias_and_norm": True,
        },
        "projector": {"modules": "projector", "optimizer": {"type": "AdamW", "weight_decay": 0.05}},
    }
    backbone, projector = build_optimizers(ssl_model, optim, LENGTH)
    decay, no_decay = backbone.optimizer.param_groups
    assert decay["weight_decay"] == 0.05
    assert no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in ssl_model.named_parameters()}
    assert [names[id(p)] for p in decay["params"]] == ["backbone.0.weight", "backbone.3.weight"]
    assert sorted(names[id(p)] for p in no_decay["params"]) == [
        "backbone.0.bias",
        "backbone.1.bias",
        "backbone.1.weight",
        "backbone.3.bias",
    ]
    assert len(projector.optimizer.param_groups) == 1


def test_entries_keep_parameter_names_and_parameters(routing_model: nn.Module) -> None:
    (entry,) = build_optimizers(routing_model, {"optimizer": "SGD"}, LENGTH)
    assert isinstance(entry, OptimizerEntry)
    assert entry.parameter_names == [n for n, _ in routing_model.named_parameters()]
    assert entry.parameters == list(routing_model.parameters())


def test_unmatched_policy_in_the_spec_or_as_argument(routing_model: nn.Module) -> None:
    optim = {"unmatched": "error", "enc": {"modules": "encoder", "optimizer": "SGD"}}
    with pytest.raises(ValueError, match=r"decoder\.weight"):
        build_optimizers(routing_model, optim, LENGTH)
    entries = build_optimizers(routing_model, optim, LENGTH, unmatched="ignore")
    assert [e.name for e in entries] == ["enc"]


def test_a_route_without_trainable_parameters_is_an_error(routing_model: nn.Module) -> None:
    routing_model.decoder.requires_grad_(False)
    optim = {
        "enc": {"modules": "encoder", "optimizer": "SGD"},
        "dec": {"modules": "decoder", "optimizer": "SGD"},
    }
    with pytest.raises(ValueError, match=r"optim entry 'dec' \(modules 'decoder'\) received no"):
        build_optimizers(routing_model, optim, LENGTH, unmatched="ignore")


@pytest.mark.parametrize(
    ("optim", "message"),
    [
        ({"optimizer": "SGD", "lr": 0.1}, r"unknown key\(s\) \['lr'\]; valid keys are"),
        (
            {"optimizer": "SGD", "interval": "batch"},
            "'interval' must be 'step' or 'epoch', got 'batch'",
        ),
        ({"optimizer": "SGD", "frequency": 0}, "'frequency' must be an int >= 1, got 0"),
        ({"optimizer": "SGD", "frequency": 1.5}, "'frequency' must be an int >= 1, got 1.5"),
        ({"optimizer": "SGD", "scheduler_frequency": True}, "'scheduler_frequency' must be an int"),
        (
            {"optimizer": "SGD", "gradient_clip_algorithm": "l2"},
            "'gradient_clip_algorithm' must be 'norm', 'value' or None, got 'l2'",
        ),
        (
            {"optimizer": "SGD", "gradient_clip_val": -1.0},
            "'gradient_clip_val' must be >= 0, got -1.0",
        ),
        ({"enc": {"optimizer": "SGD"}}, "optim entry 'enc': a multi-optimizer spec maps names"),
        ({"enc": "SGD"}, "for a single optimizer write"),
        ({"unmatched": "warn"}, "holds no optimizer entry"),
        (
            {"enc": {"modules": "encoder", "optimizer": "SGD", "name": "x"}},
            r"optim entry 'enc': unknown key\(s\) \['name'\]",
        ),
    ],
)
def test_bad_specs_name_the_key_the_value_and_the_fix(
    routing_model: nn.Module, optim: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_optimizers(routing_model, optim, LENGTH)


def test_length_from_module_without_a_trainer_is_none() -> None:
    assert length_from_module(nn.Linear(2, 2)) is None


def test_length_from_module_reads_a_duck_typed_trainer() -> None:
    class FakeTrainer:
        train_dataloader = "loaded"
        max_steps = 12
        max_epochs = 3
        num_training_batches = 8
        accumulate_grad_batches = 2

    model = nn.Linear(2, 2)
    model.trainer = FakeTrainer()  # type: ignore[assignment]
    assert length_from_module(model) == TrainingLength(
        total_batches=24, max_epochs=3, batches_per_epoch=8, accumulate_grad_batches=2
    )
    out = configure_optimizers(model, "SGD")
    assert out["lr_scheduler"]["scheduler"].T_max == 12


def test_length_from_module_counts_the_accumulation_the_module_applies() -> None:
    class FakeTrainer:  # accumulation reset to 1: the module accumulates by 4 itself
        train_dataloader = "loaded"
        max_steps = -1
        max_epochs = 2
        num_training_batches = 8
        accumulate_grad_batches = 1

    model = nn.Linear(2, 2)
    model.trainer = FakeTrainer()  # type: ignore[assignment]
    model.trainer_settings = SimpleNamespace(accumulate_grad_batches=4)  # type: ignore[assignment]
    length = length_from_module(model)
    assert length == TrainingLength(max_epochs=2, batches_per_epoch=8, accumulate_grad_batches=4)
    assert configure_optimizers(model, "SGD")["lr_scheduler"]["scheduler"].T_max == 4
