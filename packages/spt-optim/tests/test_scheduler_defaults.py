"""Smart scheduler defaults, computed from the training length and checked numerically."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler

from spt_optim import LinearWarmupCosineAnnealing, TrainingLength, build_scheduler

BASE_LR = 0.4
# 3 epochs of 25 batches, accumulating 2: ceil(25 / 2) = 13 steps per epoch, 39 in all.
LENGTH = TrainingLength(max_epochs=3, batches_per_epoch=25, accumulate_grad_batches=2)
STEPS = 39


def _optimizer(lr: float = BASE_LR) -> torch.optim.Optimizer:
    return torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=lr)


def _run(sched: lr_scheduler.LRScheduler, steps: int) -> list[float]:
    """lr before each of ``steps`` scheduler steps, then the lr after the last."""
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the optimizer never stepped
        for _ in range(steps):
            lrs.append(sched.optimizer.param_groups[0]["lr"])
            sched.optimizer.step()
            sched.step()
    lrs.append(sched.optimizer.param_groups[0]["lr"])
    return lrs


def test_cosine_t_max_is_the_number_of_scheduler_steps() -> None:
    sched = build_scheduler("CosineAnnealingLR", _optimizer(), LENGTH)
    assert isinstance(sched, lr_scheduler.CosineAnnealingLR)
    assert sched.T_max == STEPS
    lrs = _run(sched, STEPS)
    assert lrs[STEPS // 2 + 1] < BASE_LR / 2 < lrs[STEPS // 2 - 1]
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)


def test_cosine_epoch_interval_spans_the_epochs() -> None:
    sched = build_scheduler("CosineAnnealingLR", _optimizer(), LENGTH, interval="epoch")
    assert isinstance(sched, lr_scheduler.CosineAnnealingLR)
    assert sched.T_max == 3


def test_one_cycle_total_steps_and_max_lr_from_the_optimizer() -> None:
    sched = build_scheduler("OneCycleLR", _optimizer(), LENGTH)
    assert isinstance(sched, lr_scheduler.OneCycleLR)
    assert sched.total_steps == STEPS
    assert sched.optimizer.param_groups[0]["max_lr"] == BASE_LR
    lrs = _run(sched, STEPS - 1)  # OneCycleLR allows total_steps - 1 further steps
    assert max(lrs) == pytest.approx(BASE_LR, rel=1e-3)
    assert lrs[-1] < BASE_LR * 1e-4


def test_one_cycle_keeps_a_given_max_lr() -> None:
    sched = build_scheduler({"type": "OneCycleLR", "max_lr": 1.0}, _optimizer(), LENGTH)
    assert sched.optimizer.param_groups[0]["max_lr"] == 1.0


def test_step_lr_decays_tenfold_at_each_third() -> None:
    sched = build_scheduler("StepLR", _optimizer(), LENGTH)
    assert isinstance(sched, lr_scheduler.StepLR)
    assert sched.step_size == STEPS // 3 == 13
    lrs = _run(sched, STEPS)
    assert lrs[12] == pytest.approx(BASE_LR)
    assert lrs[13] == pytest.approx(BASE_LR * 0.1)
    assert lrs[26] == pytest.approx(BASE_LR * 0.01)


def test_step_lr_step_size_is_at_least_one() -> None:
    sched = build_scheduler("StepLR", _optimizer(), TrainingLength(total_batches=2))
    assert isinstance(sched, lr_scheduler.StepLR)
    assert sched.step_size == 1


def test_exponential_lr_ends_at_one_percent() -> None:
    sched = build_scheduler("ExponentialLR", _optimizer(), LENGTH)
    assert isinstance(sched, lr_scheduler.ExponentialLR)
    assert sched.gamma == pytest.approx(0.01 ** (1 / STEPS))
    assert _run(sched, STEPS)[-1] == pytest.approx(BASE_LR * 0.01)


def test_reduce_on_plateau_keeps_torch_defaults() -> None:
    sched = build_scheduler("ReduceLROnPlateau", _optimizer(), LENGTH)
    assert isinstance(sched, lr_scheduler.ReduceLROnPlateau)
    assert (sched.mode, sched.factor, sched.patience) == ("min", 0.1, 10)


def test_linear_lr_ramp_spans_the_run() -> None:
    spec = {"type": "LinearLR", "start_factor": 1.0, "end_factor": 0.0}
    sched = build_scheduler(spec, _optimizer(), LENGTH)
    assert isinstance(sched, lr_scheduler.LinearLR)
    assert sched.total_iters == STEPS
    lrs = _run(sched, STEPS)
    assert lrs[10] == pytest.approx(BASE_LR * (1 - 10 / STEPS))
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)


def test_constant_lr_is_constant_over_the_run() -> None:
    sched = build_scheduler("ConstantLR", _optimizer(), LENGTH)
    assert isinstance(sched, lr_scheduler.ConstantLR)
    assert (sched.factor, sched.total_iters) == (1.0, STEPS)
    assert _run(sched, STEPS) == pytest.approx([BASE_LR] * (STEPS + 1))


def test_constant_lr_with_a_factor_holds_it_for_the_run() -> None:
    sched = build_scheduler({"type": "ConstantLR", "factor": 0.5}, _optimizer(), LENGTH)
    lrs = _run(sched, STEPS)
    assert lrs[:STEPS] == pytest.approx([BASE_LR * 0.5] * STEPS)
    assert lrs[-1] == pytest.approx(BASE_LR)


def test_polynomial_lr_total_iters_is_the_run() -> None:
    sched = build_scheduler("PolynomialLR", _optimizer(), LENGTH)
    assert isinstance(sched, lr_scheduler.PolynomialLR)
    assert sched.total_iters == STEPS


def test_warmup_cosine_warms_up_for_a_tenth_then_anneals() -> None:
    length = TrainingLength(total_batches=100)
    sched = build_scheduler("LinearWarmupCosineAnnealing", _optimizer(), length)
    assert isinstance(sched, LinearWarmupCosineAnnealing)
    assert (sched.warmup_steps, sched.total_steps) == (10, 100)
    lrs = _run(sched, 100)
    assert lrs[0] == 0.0
    assert lrs[5] == pytest.approx(BASE_LR * 0.5)
    assert lrs[10] == pytest.approx(BASE_LR)
    assert lrs[55] == pytest.approx(BASE_LR * 0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert lrs[100] == 0.0


def test_given_arguments_are_never_overridden() -> None:
    spec = {"type": "CosineAnnealingLR", "T_max": 5, "eta_min": 0.01}
    sched = build_scheduler(spec, _optimizer(), LENGTH)
    assert isinstance(sched, lr_scheduler.CosineAnnealingLR)
    assert (sched.T_max, sched.eta_min) == (5, 0.01)


def test_length_accounts_for_optimizer_and_scheduler_frequency() -> None:
    # 13 accumulated steps per epoch; an optimizer stepping every 2 takes 6 per epoch.
    sched = build_scheduler(
        "CosineAnnealingLR", _optimizer(), LENGTH, optimizer_frequency=2, scheduler_frequency=3
    )
    assert isinstance(sched, lr_scheduler.CosineAnnealingLR)
    assert sched.T_max == (6 * 3) // 3


def test_interval_and_frequency_inside_the_scheduler_dict() -> None:
    spec = {"type": "CosineAnnealingLR", "interval": "epoch", "frequency": 1}
    sched = build_scheduler(spec, _optimizer(), LENGTH)
    assert isinstance(sched, lr_scheduler.CosineAnnealingLR)
    assert sched.T_max == 3


def test_bad_interval_is_an_error() -> None:
    with pytest.raises(ValueError, match="interval must be 'step' or 'epoch', got 'batch'"):
        build_scheduler("CosineAnnealingLR", _optimizer(), LENGTH, interval="batch")


def test_a_scheduler_that_needs_no_length_ignores_an_incomplete_one() -> None:
    length = TrainingLength(total_batches=10)  # no epochs
    sched = build_scheduler("ReduceLROnPlateau", _optimizer(), length, interval="epoch")
    assert isinstance(sched, lr_scheduler.ReduceLROnPlateau)


def test_an_incomplete_length_is_named_when_it_is_needed() -> None:
    length = TrainingLength(total_batches=10)
    with pytest.raises(TypeError, match=r"complete the TrainingLength .*give max_epochs") as info:
        build_scheduler("CosineAnnealingLR", _optimizer(), length, interval="epoch")
    assert "T_max" in str(info.value)


def test_frequencies_below_one_are_errors() -> None:
    with pytest.raises(ValueError, match="optimizer_frequency must be >= 1, got 0"):
        build_scheduler("CosineAnnealingLR", _optimizer(), LENGTH, optimizer_frequency=0)
    with pytest.raises(ValueError, match="scheduler_frequency must be >= 1, got 0"):
        build_scheduler("CosineAnnealingLR", _optimizer(), LENGTH, scheduler_frequency=0)
