"""Read a named tensor from a step's outputs (or, failing that, its batch) with clear errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["check_rows", "read_key"]


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    """The dicts of a step output or batch: a dict, or a list of view dicts."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, Tensor)):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _keys(value: Any) -> list[str]:
    keys: list[str] = []
    for d in _dicts(value):
        keys.extend(str(k) for k in d if str(k) not in keys)
    return keys


def read_key(outputs: Any, batch: Any, key: str, *, owner: str, argument: str) -> Tensor:
    """The tensor under ``key`` in the step ``outputs``, else in the ``batch``.

    A list of view dicts (multi-view outputs or batches) gives the concatenation of the
    views' values along the first dimension. Python ints and lists become tensors.

    Args:
        outputs: What the step returned (a dict, a list of dicts, or None).
        batch: The batch of the step (a dict or a list of view dicts).
        key: The key to read.
        owner: The callback reading it, for the error message (e.g. ``"OnlineProbe 'probe'"``).
        argument: The argument of the callback that named ``key`` (``"input"``, ``"target"``).

    Raises:
        KeyError: If neither the outputs nor the batch hold ``key``; the message lists the
            keys they do hold.
    """
    for source in (outputs, batch):
        values = [d[key] for d in _dicts(source) if key in d]
        if values:
            tensors = [v if isinstance(v, Tensor) else torch.as_tensor(v) for v in values]
            return tensors[0] if len(tensors) == 1 else torch.cat(tensors)
    raise KeyError(
        f"{owner}: {argument}={key!r} is not in the step outputs (keys: {_keys(outputs)}) nor in "
        f"the batch (keys: {_keys(batch)}); return {key!r} from the step or set {argument}= to "
        "one of these keys"
    )


def check_rows(owner: str, input_key: str, x: Tensor, target_key: str, y: Tensor) -> None:
    """Raise a ValueError when ``x`` and ``y`` do not have the same number of rows."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{owner}: input {input_key!r} has {x.shape[0]} rows but target {target_key!r} has "
            f"{y.shape[0]}; both must describe the same samples (for multi-view steps return "
            "one target per view row)"
        )
