"""Build a learning-rate scheduler from a spec, with defaults computed from the training length."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LRScheduler,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    StepLR,
)

from spt_optim._registry import scheduler_registry
from spt_optim._spec import ResolvedSpec, resolve_spec
from spt_optim.length import TrainingLength
from spt_optim.warmup_cosine import LinearWarmupCosineAnnealing

__all__ = [
    "DEFAULT_MONITOR",
    "EXPONENTIAL_FINAL_FACTOR",
    "WARMUP_FRACTION",
    "SchedulerSpec",
    "build_scheduler",
    "default_interval",
    "resolve_scheduler",
    "scheduler_defaults",
]

SchedulerSpec = Any
"""A name (``"CosineAnnealingLR"``), a dict with ``"type"``, a ``functools.partial`` or a class."""

DEFAULT_MONITOR = "val_loss"
"""Metric a ReduceLROnPlateau watches when no ``monitor`` is given."""

WARMUP_FRACTION = 0.1
"""Share of the schedule spent warming up in LinearWarmupCosineAnnealing by default."""

EXPONENTIAL_FINAL_FACTOR = 0.01
"""ExponentialLR's default gamma brings the lr to this fraction of its start at the end."""

_LIGHTNING_KEYS = ("interval", "frequency", "monitor", "name", "strict")


@dataclass(frozen=True)
class SchedulerOptions:
    """Lightning scheduler-dict keys written inside a scheduler dict spec."""

    interval: str | None = None
    frequency: int | None = None
    monitor: str | None = None


def resolve_scheduler(spec: SchedulerSpec) -> tuple[ResolvedSpec, SchedulerOptions]:
    """Resolve a scheduler spec and take out the Lightning keys written inside a dict spec.

    Args:
        spec: A scheduler spec; a dict may also hold ``interval``, ``frequency`` (the
            scheduler's) and ``monitor``.

    Returns:
        The resolved spec and the Lightning options found in it.
    """
    options = SchedulerOptions()
    if isinstance(spec, Mapping):
        options = SchedulerOptions(
            interval=spec.get("interval"),
            frequency=spec.get("frequency"),
            monitor=spec.get("monitor"),
        )
        spec = {k: v for k, v in spec.items() if k not in _LIGHTNING_KEYS}
    return resolve_spec(spec, "scheduler", scheduler_registry()), options


def default_interval(resolved: ResolvedSpec) -> str:
    """``"epoch"`` for ReduceLROnPlateau (it reads a metric logged per epoch), else ``"step"``."""
    return "epoch" if resolved.is_a(ReduceLROnPlateau) else "step"


def scheduler_defaults(
    resolved: ResolvedSpec, optimizer: Optimizer, steps: int | None
) -> dict[str, Any]:
    """Keyword arguments filled in for ``resolved`` where the user gave none.

    With ``n = steps`` (the number of times the scheduler will step):

    - CosineAnnealingLR: ``T_max = n``.
    - OneCycleLR: ``total_steps = n``; ``max_lr`` = each param group's ``lr``.
    - StepLR: ``step_size = max(1, n // 3)`` (torch's ``gamma=0.1``: two decays by 10x).
    - ExponentialLR: ``gamma = 0.01 ** (1 / n)``, so the lr ends at 1% of its start.
    - LinearLR: ``total_iters = n`` (the ramp between ``start_factor`` and ``end_factor``
      spans the run).
    - ConstantLR: ``factor = 1.0`` and ``total_iters = n`` (a constant lr).
    - PolynomialLR: ``total_iters = n``.
    - LinearWarmupCosineAnnealing: ``total_steps = n``, ``warmup_steps = int(0.1 * n)``.
    - ReduceLROnPlateau: torch's defaults (its ``monitor`` defaults to ``"val_loss"``).

    Args:
        resolved: The resolved scheduler spec.
        optimizer: The optimizer it will drive.
        steps: Scheduler steps in the run, or None when unknown (length-based defaults are
            then left out).

    Returns:
        The defaults, excluding keys the user gave.

    Examples:
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
        >>> resolved, _ = resolve_scheduler({"type": "StepLR", "gamma": 0.5})
        >>> scheduler_defaults(resolved, opt, steps=90)
        {'step_size': 30}
    """
    defaults: dict[str, Any] = {}
    if resolved.is_a(OneCycleLR):
        lrs = [float(group["lr"]) for group in optimizer.param_groups]
        defaults["max_lr"] = lrs[0] if len(set(lrs)) == 1 else lrs
    if resolved.is_a(ConstantLR):
        defaults["factor"] = 1.0
    if steps is not None:
        n = steps
        if resolved.is_a(CosineAnnealingLR):
            defaults["T_max"] = n
        elif resolved.is_a(OneCycleLR):
            defaults["total_steps"] = n
        elif resolved.is_a(StepLR):
            defaults["step_size"] = max(1, n // 3)
        elif resolved.is_a(ExponentialLR):
            defaults["gamma"] = EXPONENTIAL_FINAL_FACTOR ** (1.0 / n)
        elif resolved.is_a(LinearLR) or resolved.is_a(ConstantLR) or resolved.is_a(PolynomialLR):
            defaults["total_iters"] = n
        elif resolved.is_a(LinearWarmupCosineAnnealing):
            total = int(resolved.given.get("total_steps", n))
            defaults["total_steps"] = n
            defaults["warmup_steps"] = int(WARMUP_FRACTION * total)
    return {k: v for k, v in defaults.items() if k not in resolved.given}


def build_scheduler(
    spec: SchedulerSpec,
    optimizer: Optimizer,
    length: TrainingLength | None = None,
    *,
    interval: str = "step",
    optimizer_frequency: int = 1,
    scheduler_frequency: int = 1,
) -> LRScheduler | ReduceLROnPlateau:
    """Build a scheduler, filling missing arguments from the training length.

    The schedule length is ``length.scheduler_steps(interval, optimizer_frequency,
    scheduler_frequency)``: optimizer steps (after gradient accumulation and the optimizer's
    own frequency) for ``interval="step"``, epochs for ``"epoch"``, divided by the
    scheduler's frequency. See :func:`scheduler_defaults` for each scheduler's defaults.

    Args:
        spec: ``"CosineAnnealingLR"``, ``{"type": "StepLR", "step_size": 30}``, a
            ``functools.partial`` or a scheduler class. ``interval`` and ``frequency`` inside
            a dict spec override the keyword arguments.
        optimizer: The optimizer.
        length: The training length; None applies only defaults that need no length.
        interval: ``"step"`` or ``"epoch"``.
        optimizer_frequency: The optimizer steps every this many accumulated batches.
        scheduler_frequency: The scheduler steps every this many intervals.

    Returns:
        The scheduler.

    Raises:
        ValueError: For an unknown name, an unknown interval or a frequency below 1.
        TypeError: When the scheduler lacks a required argument (e.g. no length, or a
            length without epochs for an epoch-interval CosineAnnealingLR's ``T_max``) or
            rejects one.

    Examples:
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
        >>> length = TrainingLength(max_epochs=10, batches_per_epoch=100, accumulate_grad_batches=2)
        >>> build_scheduler("CosineAnnealingLR", opt, length).T_max
        500
        >>> build_scheduler("CosineAnnealingLR", opt, length, interval="epoch").T_max
        10
    """
    resolved, options = resolve_scheduler(spec)
    interval = options.interval or interval
    scheduler_frequency = options.frequency or scheduler_frequency
    if interval not in ("step", "epoch"):
        raise ValueError(f"scheduler interval must be 'step' or 'epoch', got {interval!r}")
    for arg, value in (
        ("optimizer_frequency", optimizer_frequency),
        ("scheduler_frequency", scheduler_frequency),
    ):
        if value < 1:
            raise ValueError(f"build_scheduler: {arg} must be >= 1, got {value}")
    steps = None
    hint = " or pass a TrainingLength for the defaults"
    if length is not None:
        try:
            steps = length.scheduler_steps(interval, optimizer_frequency, scheduler_frequency)
        except ValueError as err:  # only an error if the scheduler needs the length
            hint = f" or complete the TrainingLength ({err})"
        else:
            hint = ""
    extra = scheduler_defaults(resolved, optimizer, steps)
    try:
        scheduler = resolved.call(optimizer, extra)
    except TypeError as err:
        raise TypeError(
            f"scheduler {resolved.name!r} could not be built with arguments "
            f"{ {**resolved.given, **extra} }: {err}; give the missing arguments in a dict spec "
            f'such as {{"type": "{resolved.name}", ...}}{hint}'
        ) from err
    if not isinstance(scheduler, (LRScheduler, ReduceLROnPlateau)):
        raise TypeError(
            f"scheduler spec {spec!r} built a {type(scheduler).__name__}, not a torch LR scheduler"
        )
    return scheduler
