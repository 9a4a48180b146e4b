"""Batched ``ColorJitter``: per-sample brightness, contrast, saturation and hue factors."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from spt_data.gpu._base import RandomOp
from spt_data.gpu._random import bernoulli, permutations, uniform
from spt_data.gpu.grayscale import rgb_to_gray

_OPS = ("brightness", "contrast", "saturation", "hue")


def _bcast(f: Tensor) -> Tensor:
    return f[:, None, None, None]


def adjust_brightness(x: Tensor, factor: Tensor) -> Tensor:
    """``clamp(f * x, 0, 1)`` per sample; ``factor`` (N,)."""
    return (x * _bcast(factor)).clamp(0.0, 1.0)


def adjust_contrast(x: Tensor, factor: Tensor) -> Tensor:
    """Blend each image with the mean of its luma (torchvision's contrast); ``factor`` (N,)."""
    mean = rgb_to_gray(x).mean(dim=(1, 2, 3), keepdim=True)
    f = _bcast(factor)
    return (f * x + (1.0 - f) * mean).clamp(0.0, 1.0)


def adjust_saturation(x: Tensor, factor: Tensor) -> Tensor:
    """Blend each image with its luma image (torchvision's saturation); ``factor`` (N,)."""
    f = _bcast(factor)
    return (f * x + (1.0 - f) * rgb_to_gray(x)).clamp(0.0, 1.0)


def adjust_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate the HSV hue of each image by ``shift`` (N,) turns, in [-0.5, 0.5].

    RGB -> (hue, max, max - min), hue shifted, then back with the closed-form HSV -> RGB
    ``c = max - (max - min) * clamp(min(k, 4 - k), 0, 1)``, ``k = (n + 6 h) mod 6`` with
    ``n = 5, 3, 1`` for R, G, B. Samples with ``shift == 0`` are returned unchanged.
    """
    r, g, b = x.unbind(dim=1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    # hue in sextants [0, 6): red is max -> b - g, green -> 2 + r - b, blue -> 4 + g - r
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, h, torch.zeros_like(h))
    h = h + 6.0 * shift[:, None, None]
    out = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(n + h, 6.0)
        out.append(maxc - delta * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0))
    rotated = torch.stack(out, dim=1)
    return torch.where(_bcast(shift) != 0, rotated, x)


def _range(
    value: float | tuple[float, float], name: str, centre: float, bound: float
) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{name}={value!r} must be non-negative.")
        lo, hi = centre - value, centre + value
        if centre == 1.0:
            lo = max(lo, 0.0)
    else:
        lo, hi = float(value[0]), float(value[1])
    if not (-bound <= lo <= hi <= bound) or (centre == 1.0 and lo < 0):
        raise ValueError(
            f"{name}={value!r} gives the range ({lo}, {hi}); it must be increasing and within "
            f"[{0.0 if centre == 1.0 else -bound}, {bound}]."
        )
    return (lo, hi)


class ColorJitter(RandomOp):
    """Per-sample colour jitter, applied to each sample with probability ``p``.

    Factors as torchvision: brightness, contrast and saturation ~ U(max(0, 1 - v), 1 + v)
    (or a given (min, max)), hue ~ U(-v, v) with v <= 0.5. Images must be in [0, 1]
    (apply before ``Normalize``).

    Order: torchvision draws one random permutation of the four adjustments per call. With
    ``order="random"`` (default) each sample gets its own permutation, so every sample sees
    torchvision's distribution; ``order="fixed"`` always applies brightness, contrast,
    saturation, hue (cheaper: one pass each; the random order costs three more blend passes).

    Params: ``brightness``, ``contrast``, ``saturation``, ``hue`` (N,) and ``order`` (N, 4)
    (indices into brightness, contrast, saturation, hue); unselected samples get the
    identity factors (1, 1, 1, 0).

    Examples:
        >>> jitter = ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8)
        >>> jitter(torch.rand(4, 3, 8, 8)).shape
        torch.Size([4, 3, 8, 8])
    """

    channels = 3

    def __init__(
        self,
        brightness: float | tuple[float, float] = 0.0,
        contrast: float | tuple[float, float] = 0.0,
        saturation: float | tuple[float, float] = 0.0,
        hue: float | tuple[float, float] = 0.0,
        p: float = 1.0,
        order: Literal["random", "fixed"] = "random",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, generator)
        if order not in ("random", "fixed"):
            raise ValueError(f"order={order!r}; pass 'random' (per sample) or 'fixed'.")
        self.order = order
        self.ranges = {
            "brightness": _range(brightness, "brightness", 1.0, float("inf")),
            "contrast": _range(contrast, "contrast", 1.0, float("inf")),
            "saturation": _range(saturation, "saturation", 1.0, float("inf")),
            "hue": _range(hue, "hue", 0.0, 0.5),
        }
        identity = {"brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "hue": 0.0}
        self.active = [k for k in _OPS if self.ranges[k] != (identity[k], identity[k])]

    def sample_params(
        self, shape: torch.Size, device: torch.device, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        n = int(shape[0])
        apply = bernoulli(n, self.p, device, generator)
        params: dict[str, Tensor] = {}
        for name in _OPS:
            lo, hi = self.ranges[name]
            f = uniform(n, lo, hi, device, generator)
            params[name] = torch.where(apply, f, torch.full_like(f, 0.0 if name == "hue" else 1.0))
        if self.order == "random":
            params["order"] = permutations(n, 4, device, generator)
        else:
            params["order"] = torch.arange(4, device=device).expand(n, 4)
        return params

    def apply_params(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        if self.order == "fixed":
            for name in self.active:
                x = _ADJUST[name](x, params[name])
            return x
        # Each sample's permutation is its three blends in order with the hue rotation
        # inserted after the first `before` of them. Blend passes cost a few element-wise ops
        # and the hue rotation many, so: blends before the hue (identity elsewhere), one hue
        # pass for the whole batch, then the blends after it.
        order = params["order"]  # (N, 4), values 0..3, 3 = hue
        is_hue = order == 3
        # the three blend ops of each sample in its order (stable sort moves the hue last)
        blends = order.gather(1, torch.argsort(is_hue.to(torch.int8), dim=1, stable=True))[:, :3]
        hue = "hue" in self.active
        if hue:
            before = is_hue.to(torch.int64).argmax(dim=1, keepdim=True)  # (N, 1)
            slot = torch.arange(3, device=order.device)[None, :]
            identity = torch.full_like(blends, 3)
            pre = torch.where(slot < before, blends, identity)  # (N, 3), 3 = no change
            post = torch.where(slot >= before, blends, identity)
            passes = torch.cat([pre, post], dim=1)  # (N, 6)
        else:
            passes = blends
        if not any(k in self.active for k in _OPS[:3]):
            return adjust_hue(x, params["hue"]) if hue else x
        # factor of each pass for each sample, one gather: (N, 4) -> (N, passes)
        b = params["brightness"]
        table = torch.stack([b, params["contrast"], params["saturation"], torch.ones_like(b)], 1)
        factors = table.gather(1, passes)
        needs_gray = "contrast" in self.active or "saturation" in self.active
        for j in range(passes.shape[1]):
            if hue and j == 3:
                x = adjust_hue(x, params["hue"])
            x = _blend(x, passes[:, j], factors[:, j], needs_gray)
        return x

    def extra_repr(self) -> str:
        ranges = ", ".join(f"{k}={v}" for k, v in self.ranges.items())
        return f"{ranges}, p={self.p}, order={self.order!r}"


def _blend(x: Tensor, op: Tensor, factor: Tensor, needs_gray: bool) -> Tensor:
    """One pass of per-sample blends: sample i does adjustment ``op[i]`` with ``factor[i]``.

    The three linear adjustments are blends ``f * x + (1 - f) * target`` with target 0
    (brightness, op 0), the mean luma (contrast, op 1) or the luma image (saturation, op 2);
    op 3 has factor 1 and leaves the sample unchanged.
    """
    f = _bcast(factor)
    if not needs_gray:
        return (x * f).clamp(0.0, 1.0)
    gray = rgb_to_gray(x)  # (N, 1, H, W)
    mean = gray.mean(dim=(1, 2, 3), keepdim=True)
    target = torch.where(_bcast(op == 1), mean, 0.0)
    target = torch.where(_bcast(op == 2), gray, target)
    return torch.lerp(target, x, f).clamp(0.0, 1.0)


_ADJUST = {
    "brightness": adjust_brightness,
    "contrast": adjust_contrast,
    "saturation": adjust_saturation,
    "hue": adjust_hue,
}
