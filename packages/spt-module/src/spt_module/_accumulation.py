"""Bookkeeping of gradient accumulation, optimizer frequency and scheduler stepping.

Counters are plain Python integers (no tensors, no host sync) and go into the checkpoint,
with the gradients of groups still accumulating, so a resumed run steps exactly where the
uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

__all__ = [
    "StepCounters",
    "is_accumulation_boundary",
    "pending_gradients",
    "require_monitor",
    "restore_gradients",
    "step_scheduler",
]


def is_accumulation_boundary(batch_idx: int, accumulate_grad_batches: int, is_last: bool) -> bool:
    """Whether the batch ``batch_idx`` (0-based, within the epoch) closes an accumulation group.

    A group closes every ``accumulate_grad_batches`` batches and on the last batch of the
    epoch, so no gradient is carried into the next epoch.
    """
    return accumulate_grad_batches <= 1 or is_last or (batch_idx + 1) % accumulate_grad_batches == 0


class StepCounters:
    """Counts accumulation boundaries and the steps of each optimizer.

    Attributes:
        boundaries: Accumulation groups closed so far (over the whole run).
        optimizer_steps: Steps taken so far by each optimizer, by name.
        epochs_stepped: Epochs whose epoch-interval schedulers have stepped.
    """

    def __init__(self) -> None:
        self.boundaries = 0
        self.optimizer_steps: dict[str, int] = {}
        self.epochs_stepped = 0

    def count_step(self, name: str) -> int:
        """Record one step of optimizer ``name``; return its step count."""
        count = self.optimizer_steps.get(name, 0) + 1
        self.optimizer_steps[name] = count
        return count

    def state_dict(self) -> dict[str, Any]:
        """The counters, for the checkpoint."""
        return {
            "boundaries": self.boundaries,
            "optimizer_steps": dict(self.optimizer_steps),
            "epochs_stepped": self.epochs_stepped,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the counters from :meth:`state_dict`."""
        self.boundaries = int(state.get("boundaries", 0))
        self.optimizer_steps = {str(k): int(v) for k, v in state.get("optimizer_steps", {}).items()}
        self.epochs_stepped = int(state.get("epochs_stepped", 0))


def step_scheduler(
    scheduler: Any, name: str, monitor: str | None, trainer: Any, *, strict: bool = True
) -> None:
    """Step ``scheduler``; a ReduceLROnPlateau steps on its ``monitor`` in ``callback_metrics``.

    Args:
        scheduler: The scheduler.
        name: Name of its optimizer (for the message).
        monitor: Metric of a ReduceLROnPlateau (default ``"val_loss"``).
        trainer: The Trainer, whose ``callback_metrics`` hold the logged metrics.
        strict: Raise when the metric is missing. Per-step schedulers pass False: a
            validation metric appears only after the first validation, so they skip until
            then (the Module checks at the end of each epoch that it appeared).

    Raises:
        ValueError: If a ReduceLROnPlateau monitors a metric that was never logged.
    """
    if not isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step()
        return
    key = monitor or "val_loss"
    callback_metrics = trainer.callback_metrics
    if key in callback_metrics:
        scheduler.step(callback_metrics[key])
    elif strict:
        require_monitor(name, monitor, callback_metrics)


def require_monitor(name: str, monitor: str | None, callback_metrics: Mapping[str, Any]) -> None:
    """Raise a clear error if ``monitor`` (default ``"val_loss"``) is not a logged metric.

    Raises:
        ValueError: Naming the metric, the logged metrics and the fix.
    """
    key = monitor or "val_loss"
    if key in callback_metrics:
        return
    logged = ", ".join(sorted(callback_metrics)) or "none"
    raise ValueError(
        f"optimizer {name!r}: ReduceLROnPlateau monitors {key!r}, which was never logged; "
        f"logged metrics are: {logged}. Log {key!r} with self.log (e.g. in forward at the "
        "'validate' stage) or set 'monitor' in the optim spec to one of the logged names."
    )


def pending_gradients(module: nn.Module) -> dict[str, torch.Tensor]:
    """Gradients not yet consumed by a step (an accumulation or frequency group in progress).

    Optimizers that stepped set their gradients to None, so this is empty at a boundary where
    every optimizer stepped. Sharded (DTensor) gradients are left out.
    """
    return {
        name: param.grad.detach().clone()
        for name, param in module.named_parameters()
        if param.grad is not None and not hasattr(param.grad, "full_tensor")
    }


def restore_gradients(module: nn.Module, gradients: Mapping[str, torch.Tensor]) -> None:
    """Put the gradients of :func:`pending_gradients` back on the parameters of ``module``."""
    for name, param in module.named_parameters():
        grad = gradients.get(name)
        if grad is not None and grad.shape == param.shape:
            param.grad = grad.to(device=param.device, dtype=param.dtype)
