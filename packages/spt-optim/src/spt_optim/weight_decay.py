"""Split parameters into weight-decay and no-weight-decay groups."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from torch import nn

__all__ = ["NORM_LAYERS", "norm_parameter_names", "weight_decay_groups"]

NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)
"""Module types whose parameters are never decayed (batch, instance, layer, group, RMS norms)."""


def norm_parameter_names(module: nn.Module) -> set[str]:
    """Qualified names of the direct parameters of every normalization layer in ``module``.

    Examples:
        >>> from torch import nn
        >>> sorted(norm_parameter_names(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))))
        ['1.bias', '1.weight']
    """
    names: set[str] = set()
    for prefix, sub in module.named_modules():
        if isinstance(sub, NORM_LAYERS):
            for name, _ in sub.named_parameters(recurse=False):
                names.add(f"{prefix}.{name}" if prefix else name)
    return names


def weight_decay_groups(
    named_params: Iterable[tuple[str, nn.Parameter]],
    *,
    no_decay_names: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Two parameter groups: decayed, and not decayed (``weight_decay=0.0``).

    A parameter is not decayed when its name ends with ``bias``, it has at most one
    dimension (biases and norm scales), or its name is in ``no_decay_names`` (e.g. from
    :func:`norm_parameter_names`). Empty groups are dropped. The decayed group keeps the
    optimizer's own ``weight_decay``.

    Args:
        named_params: ``(name, parameter)`` pairs.
        no_decay_names: More names to exclude from weight decay.

    Returns:
        Parameter groups for a torch optimizer, each with a ``"param_names"``-free
        ``"params"`` list; the second group sets ``"weight_decay": 0.0``.

    Examples:
        >>> from torch import nn
        >>> groups = weight_decay_groups(nn.Linear(3, 2).named_parameters())
        >>> [len(g["params"]) for g in groups], groups[1]["weight_decay"]
        ([1, 1], 0.0)
    """
    excluded = set(no_decay_names)
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in named_params:
        if name.endswith("bias") or param.ndim <= 1 or name in excluded:
            no_decay.append(param)
        else:
            decay.append(param)
    groups: list[dict[str, Any]] = []
    if decay:
        groups.append({"params": decay})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups
