"""Collectives the losses need: a gather with gradient and sum and mean all-reduces.

All are the identity when `torch.distributed` is not initialised or the world has one
process, so every loss runs unchanged in a single process.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    """Number of processes in the default group, 1 when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank() -> int:
    """Rank of this process in the default group, 0 when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


class _GatherWithGradient(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums the gradients of every rank's copy."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        world = dist.get_world_size()
        out = x.new_empty((world * x.shape[0], *x.shape[1:]))
        dist.all_gather_into_tensor(out, x.contiguous())
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        world = dist.get_world_size()
        local = grad.shape[0] // world
        grad = grad.contiguous()
        if dist.get_backend() in _REDUCE_SCATTER_BACKENDS:
            out = grad.new_empty((local, *grad.shape[1:]))
            dist.reduce_scatter_tensor(out, grad)
            return out
        # gloo has no reduce-scatter: sum everything, keep this rank's slice
        total = grad.clone()
        dist.all_reduce(total)
        r = dist.get_rank()
        return total[r * local : (r + 1) * local]


_REDUCE_SCATTER_BACKENDS = {"nccl", "xccl"}


def gather(x: Tensor) -> Tensor:
    """Concatenates `x` from every rank along dim 0, keeping the gradient.

    The backward pass sums, over ranks, the gradients that reach each rank's slice (a
    reduce-scatter; an all-reduce on backends without one, such as gloo). Every rank must
    pass a tensor of the same shape.

    Args:
        x: local tensor of shape (B, ...).

    Returns:
        Tensor of shape (world_size * B, ...), rank-major; `x` itself in one process.
    """
    if world_size() == 1:
        return x
    out: Tensor = _GatherWithGradient.apply(x)
    return out


def all_reduce_mean(x: Tensor) -> Tensor:
    """Mean of `x` over ranks, without gradient; `x` itself in one process."""
    if world_size() == 1:
        return x
    out = x.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / world_size()


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum of `x` over ranks, without gradient; `x` itself in one process."""
    if world_size() == 1:
        return x
    out = x.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out
