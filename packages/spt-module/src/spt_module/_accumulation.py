"""Bookkeeping of gradient accumulation and optimizer frequency, and pending gradients.

Counters are plain Python integers (no tensors, no host sync) and go into the checkpoint,
with the gradients of groups still accumulating, so a resumed run steps exactly where the
uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["StepCounters", "is_accumulation_boundary", "pending_gradients", "restore_gradients"]


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
