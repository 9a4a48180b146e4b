"""The four spec forms for optimizers and schedulers, and their errors."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from spt_optim import (
    LARS,
    LinearWarmupCosineAnnealing,
    TrainingLength,
    build_optimizer,
    build_scheduler,
)


@pytest.fixture
def params() -> list[nn.Parameter]:
    return list(nn.Linear(3, 2).parameters())


@pytest.mark.parametrize(
    "spec",
    [
        "SGD",
        {"type": "SGD", "lr": 0.5, "momentum": 0.9},
        functools.partial(torch.optim.SGD, lr=0.5, momentum=0.9),
        torch.optim.SGD,
    ],
    ids=["name", "dict", "partial", "class"],
)
def test_optimizer_spec_forms(spec: object, params: list[nn.Parameter]) -> None:
    opt = build_optimizer(spec, params)
    assert type(opt) is torch.optim.SGD
    assert opt.param_groups[0]["params"] == params
    if not isinstance(spec, (str, type)):
        assert opt.defaults["lr"] == 0.5
        assert opt.defaults["momentum"] == 0.9


def test_optimizer_name_looked_up_in_spt_optim_after_torch(params: list[nn.Parameter]) -> None:
    assert type(build_optimizer("LARS", params)) is LARS
    assert type(build_optimizer({"type": "LARS", "lr": 2.0}, params)) is LARS


def test_optimizer_name_is_case_insensitive_when_unambiguous(params: list[nn.Parameter]) -> None:
    assert type(build_optimizer("adamw", params)) is torch.optim.AdamW


def test_dict_type_may_be_a_class(params: list[nn.Parameter]) -> None:
    opt = build_optimizer({"type": torch.optim.Adam, "lr": 0.25}, params)
    assert type(opt) is torch.optim.Adam
    assert opt.defaults["lr"] == 0.25


def test_unknown_optimizer_lists_valid_names_and_closest(params: list[nn.Parameter]) -> None:
    with pytest.raises(ValueError, match="optimizer 'AdamX'") as info:
        build_optimizer("AdamX", params)
    message = str(info.value)
    assert "did you mean 'Adam" in message
    for name in ("AdamW", "SGD", "LARS", "RMSprop"):
        assert name in message


def test_dict_without_type_is_an_error(params: list[nn.Parameter]) -> None:
    with pytest.raises(ValueError, match="no 'type' key"):
        build_optimizer({"lr": 0.1}, params)


def test_spec_of_wrong_type_is_an_error(params: list[nn.Parameter]) -> None:
    with pytest.raises(TypeError, match="optimizer spec must be"):
        build_optimizer(3, params)


def test_bad_optimizer_kwargs_name_the_optimizer(params: list[nn.Parameter]) -> None:
    with pytest.raises(TypeError, match="optimizer 'SGD' could not be built"):
        build_optimizer({"type": "SGD", "learning_rate": 0.1}, params)


def test_empty_params_is_an_error() -> None:
    with pytest.raises(ValueError, match="got no parameters"):
        build_optimizer("SGD", [])


def _sgd() -> torch.optim.Optimizer:
    return torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)


@pytest.mark.parametrize(
    "spec",
    [
        "StepLR",
        {"type": "StepLR", "step_size": 7, "gamma": 0.5},
        functools.partial(torch.optim.lr_scheduler.StepLR, step_size=7, gamma=0.5),
        torch.optim.lr_scheduler.StepLR,
    ],
    ids=["name", "dict", "partial", "class"],
)
def test_scheduler_spec_forms(spec: object) -> None:
    sched = build_scheduler(spec, _sgd(), TrainingLength(total_batches=30))
    assert type(sched) is torch.optim.lr_scheduler.StepLR
    if isinstance(spec, (str, type)):
        assert (sched.step_size, sched.gamma) == (10, 0.1)  # defaults: 30 // 3, torch's gamma
    else:
        assert (sched.step_size, sched.gamma) == (7, 0.5)


def test_scheduler_name_looked_up_in_spt_optim() -> None:
    sched = build_scheduler("LinearWarmupCosineAnnealing", _sgd(), TrainingLength(total_batches=50))
    assert isinstance(sched, LinearWarmupCosineAnnealing)


def test_unknown_scheduler_lists_valid_names_and_closest() -> None:
    with pytest.raises(ValueError, match="did you mean 'CosineAnnealingLR'") as info:
        build_scheduler("CosineAnealingLR", _sgd(), TrainingLength(total_batches=10))
    assert "LinearWarmupCosineAnnealing" in str(info.value)
    assert "ReduceLROnPlateau" in str(info.value)


def test_scheduler_missing_argument_without_length_says_how_to_fix() -> None:
    with pytest.raises(TypeError, match="pass a TrainingLength") as info:
        build_scheduler("CosineAnnealingLR", _sgd())
    assert "T_max" in str(info.value)


def test_scheduler_without_length_uses_the_given_arguments() -> None:
    sched = build_scheduler({"type": "CosineAnnealingLR", "T_max": 12}, _sgd())
    assert isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert sched.T_max == 12
