"""Input checks shared by the losses; each error gives the shapes it received."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor


def check_rank(name: str, x: Tensor, ndim: int, layout: str) -> None:
    """Raises ValueError when `x` does not have `ndim` dimensions."""
    if x.ndim != ndim:
        raise ValueError(
            f"{name} must have shape {layout} ({ndim} dimensions); got shape {tuple(x.shape)}"
        )


def check_same_shape(names: Sequence[str], tensors: Sequence[Tensor]) -> None:
    """Raises ValueError when the tensors do not all have the shape of the first one."""
    first = tensors[0]
    for name, x in zip(names[1:], tensors[1:], strict=True):
        if x.shape != first.shape:
            raise ValueError(
                f"{names[0]} and {name} must have the same shape; got {tuple(first.shape)} "
                f"and {tuple(x.shape)}"
            )
