"""Argument checks shared by the mask generators, and the per-sample transform layer."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "PatchMask",
    "check_grid",
    "check_int",
    "check_number",
    "check_range",
    "resolve_device",
]


def check_grid(grid_size: Any, owner: str) -> tuple[int, int]:
    """``grid_size`` as ``(h, w)`` positive ints (an int ``n`` means ``(n, n)``)."""
    size = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    ok = (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size)
    )
    if not ok:
        raise ValueError(
            f"{owner}: grid_size must be the patch grid (h, w) of positive ints (or one int), "
            f"got {grid_size!r}; a 224 px image with 16 px patches has grid_size=(14, 14)"
        )
    return int(size[0]), int(size[1])


def check_int(value: Any, name: str, owner: str, least: int) -> int:
    """``value`` as an int ``>= least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{owner}: {name} must be an int >= {least}, got {value!r}")
    return int(value)


def check_range(
    value: Any,
    name: str,
    owner: str,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
    scalar: bool = False,
) -> tuple[float, float]:
    """``value`` as ``(lo, hi)`` with ``low <= lo <= hi <= high`` (bounds open where asked).

    With ``scalar=True`` a single number ``v`` is accepted and returned as ``(v, v)``.
    """
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    pair = (value, value) if scalar and is_number else value
    lo_sym, hi_sym = ("(" if low_open else "["), (")" if high_open else "]")
    interval = f"{lo_sym}{low:g}, {high:g}{hi_sym}"
    what = "a number or a pair (lo, hi)" if scalar else "a pair (lo, hi)"
    if not (
        isinstance(pair, (tuple, list))
        and len(pair) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
    ):
        raise ValueError(f"{owner}: {name} must be {what} in {interval}, got {value!r}")
    lo, hi = float(pair[0]), float(pair[1])
    for v in (lo, hi):
        below = v < low or (low_open and v == low) or not math.isfinite(v)
        above = v > high or (high_open and v == high)
        if below or above:
            raise ValueError(f"{owner}: {name}={value!r} is outside {interval}; pass values in it")
    if lo > hi:
        raise ValueError(f"{owner}: {name}={value!r} has lo > hi; pass (lo, hi) with lo <= hi")
    return lo, hi


def check_number(
    value: Any, name: str, owner: str, low: float, high: float, *, high_open: bool = False
) -> float:
    """``value`` as a float in ``[low, high]`` (``[low, high)`` with ``high_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        bound = ")" if high_open else "]"
        raise ValueError(
            f"{owner}: {name} must be a number in [{low:g}, {high:g}{bound}, got {value!r}"
        )
    return check_range(value, name, owner, low, high, high_open=high_open, scalar=True)[0]


class PatchMask:
    """A generator of boolean patch masks ``(B, N)``, True = masked, that is also a transform.

    Subclasses implement ``generate(batch_size, *, device, generator)``. Called on a sample
    dict, the generator adds ``key``: a mask ``(N,)`` of its own (the global torch RNG, which
    ``torch.manual_seed`` and DataLoader worker seeding make reproducible), so the default
    collate stacks the masks of a batch into ``(B, N)``. Patches are numbered row-major over the
    grid ``(h, w)``, the order of a ViT's patch tokens.

    Args:
        grid_size: Patch grid ``(h, w)`` or one int for a square grid.
        key: The sample key the mask is written to.
    """

    def __init__(self, grid_size: int | tuple[int, int], key: str = "mask") -> None:
        owner = type(self).__name__
        self.grid_size = check_grid(grid_size, owner)
        if not isinstance(key, str):
            raise TypeError(f"{owner}: key must be a string such as 'mask', got {key!r}")
        self.key = key

    @property
    def num_patches(self) -> int:
        """Number of patches ``N = h * w``."""
        return self.grid_size[0] * self.grid_size[1]

    def generate(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Masks of a batch, ``(batch_size, N)`` bool, True = masked."""
        raise NotImplementedError

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        owner = type(self).__name__
        if not isinstance(sample, Mapping):
            raise TypeError(
                f"{owner}: expected a sample dict, got {type(sample).__name__}; for a batch on "
                f"the device call {owner}.generate(batch_size, device=...)"
            )
        if self.key in sample:
            raise KeyError(
                f"{owner}: the sample already has {self.key!r} (keys: {sorted(sample)}); pass "
                "key=... to write the mask under another name"
            )
        return {**sample, self.key: self.generate(1)[0]}


def resolve_device(
    device: torch.device | str | None, generator: torch.Generator | None
) -> torch.device:
    """The device the masks are built on: ``device``, else the generator's, else the CPU."""
    if device is not None:
        return torch.device(device)
    return generator.device if generator is not None else torch.device("cpu")
