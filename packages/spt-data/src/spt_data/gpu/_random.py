"""Per-sample random draws shared by the batched ops, with an optional ``torch.Generator``.

Every draw happens on the generator's device when a generator is given (so a seeded CPU
generator reproduces the same parameters whatever device the images are on) and is then
moved to the images' device; without a generator it uses the global RNG of that device.
"""

from __future__ import annotations

import torch
from torch import Tensor


def draw_device(device: torch.device, generator: torch.Generator | None) -> torch.device:
    """Device the random numbers are drawn on: the generator's, else the images'."""
    return generator.device if generator is not None else device


def uniform(
    shape: tuple[int, ...] | int,
    low: float,
    high: float,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Float32 samples from U[low, high) of ``shape``, returned on ``device``."""
    shape = (shape,) if isinstance(shape, int) else shape
    u = torch.rand(shape, generator=generator, device=draw_device(device, generator))
    return (u * (high - low) + low).to(device, non_blocking=True)


def bernoulli(
    n: int, p: float, device: torch.device, generator: torch.Generator | None = None
) -> Tensor:
    """Boolean mask of ``n`` independent draws, each True with probability ``p``."""
    if p >= 1.0:
        return torch.ones(n, dtype=torch.bool, device=device)
    if p <= 0.0:
        return torch.zeros(n, dtype=torch.bool, device=device)
    u = torch.rand(n, generator=generator, device=draw_device(device, generator))
    return (u < p).to(device, non_blocking=True)


def permutations(
    n: int, k: int, device: torch.device, generator: torch.Generator | None = None
) -> Tensor:
    """``n`` independent random permutations of ``range(k)``, shape (n, k), int64."""
    u = torch.rand((n, k), generator=generator, device=draw_device(device, generator))
    return u.argsort(dim=1).to(device, non_blocking=True)


def check_probability(p: float, name: str = "p") -> float:
    """Validate a probability argument and return it as a float."""
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name}={p!r} is not a probability; pass a value in [0, 1].")
    return float(p)
