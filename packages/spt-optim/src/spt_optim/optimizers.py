"""Build a torch optimizer from a spec in one of four forms."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from torch.optim import Optimizer

from spt_optim._registry import optimizer_registry
from spt_optim._spec import resolve_spec
from spt_optim.weight_decay import weight_decay_groups

__all__ = ["OptimizerSpec", "build_optimizer"]

OptimizerSpec = Any
"""A name (``"AdamW"``), a dict (``{"type": "AdamW", "lr": 1e-3}``), a ``functools.partial``
of an optimizer class, or the class itself."""


def build_optimizer(
    spec: OptimizerSpec,
    params: Iterable[Any],
    *,
    exclude_bias_and_norm: bool = False,
    no_decay_names: Collection[str] = (),
) -> Optimizer:
    """Build an optimizer from ``spec`` over ``params``.

    Names are looked up in ``torch.optim``, then in spt_optim (``LARS``); matching ignores
    case when it is unambiguous.

    Args:
        spec: ``"AdamW"``, ``{"type": "AdamW", "lr": 1e-3}``,
            ``functools.partial(torch.optim.AdamW, lr=1e-3)`` or ``torch.optim.AdamW``.
        params: Parameters, ``(name, parameter)`` pairs, or parameter-group dicts.
        exclude_bias_and_norm: Put biases, 1-D tensors and ``no_decay_names`` in a second
            group with ``weight_decay=0.0`` (see :func:`spt_optim.weight_decay_groups`).
        no_decay_names: Names never decayed (needs named ``params``), e.g. norm-layer weights.

    Returns:
        The optimizer.

    Raises:
        ValueError: For an unknown name (the message lists valid names and the closest one),
            or empty ``params``.
        TypeError: When the optimizer rejects the given arguments.

    Examples:
        >>> import functools, torch
        >>> model = torch.nn.Linear(4, 2)
        >>> type(build_optimizer("AdamW", model.parameters())).__name__
        'AdamW'
        >>> build_optimizer({"type": "SGD", "lr": 0.1}, model.parameters()).defaults["lr"]
        0.1
        >>> spec = functools.partial(torch.optim.AdamW, lr=1e-2)
        >>> opt = build_optimizer(spec, model.named_parameters(), exclude_bias_and_norm=True)
        >>> [g["weight_decay"] for g in opt.param_groups]
        [0.01, 0.0]
    """
    resolved = resolve_spec(spec, "optimizer", optimizer_registry())
    items = list(params)
    if not items:
        raise ValueError(
            f"optimizer {resolved.name!r} got no parameters; check that the module has "
            "trainable parameters (requires_grad=True) and that the routes match them"
        )
    named = all(isinstance(item, tuple) for item in items)
    arg: list[Any]
    if exclude_bias_and_norm:
        if any(isinstance(item, dict) for item in items):
            raise ValueError(
                "exclude_bias_and_norm=True needs parameters or (name, parameter) pairs, "
                "not parameter-group dicts; split the groups yourself"
            )
        pairs = items if named else [(f"param{i}", p) for i, p in enumerate(items)]
        arg = weight_decay_groups(pairs, no_decay_names=no_decay_names)
    else:
        arg = [p for _, p in items] if named else items
    try:
        optimizer = resolved.call(arg, {})
    except TypeError as err:
        raise TypeError(
            f"optimizer {resolved.name!r} could not be built with arguments {resolved.given}: "
            f"{err}; fix the keyword arguments of the spec"
        ) from err
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer spec {spec!r} built a {type(optimizer).__name__}, "
            "not a torch.optim.Optimizer"
        )
    return optimizer
