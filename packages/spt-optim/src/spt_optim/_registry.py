"""Name -> class tables for optimizers and schedulers: torch first, then spt_optim."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from spt_optim.lars import LARS
from spt_optim.warmup_cosine import LinearWarmupCosineAnnealing

__all__ = ["optimizer_registry", "scheduler_registry"]

_OWN_OPTIMIZERS: dict[str, Callable[..., Any]] = {"LARS": LARS}
_OWN_SCHEDULERS: dict[str, Callable[..., Any]] = {
    "LinearWarmupCosineAnnealing": LinearWarmupCosineAnnealing
}


def _classes(namespace: Any, base: type, exclude: set[str]) -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for name in dir(namespace):
        obj = getattr(namespace, name)
        if (
            not name.startswith("_")
            and name not in exclude
            and inspect.isclass(obj)
            and issubclass(obj, base)
        ):
            found[name] = obj
    return found


def optimizer_registry() -> dict[str, Callable[..., Any]]:
    """Optimizer names: every ``torch.optim`` optimizer class, then spt_optim's own."""
    table = _classes(torch.optim, torch.optim.Optimizer, {"Optimizer"})
    for name, cls in _OWN_OPTIMIZERS.items():
        table.setdefault(name, cls)
    return table


def scheduler_registry() -> dict[str, Callable[..., Any]]:
    """Scheduler names: every ``torch.optim.lr_scheduler`` scheduler, then spt_optim's own."""
    lr_scheduler = torch.optim.lr_scheduler
    table = _classes(lr_scheduler, lr_scheduler.LRScheduler, {"LRScheduler"})
    table.update(_classes(lr_scheduler, lr_scheduler.ReduceLROnPlateau, set()))
    for name, cls in _OWN_SCHEDULERS.items():
        table.setdefault(name, cls)
    return table
