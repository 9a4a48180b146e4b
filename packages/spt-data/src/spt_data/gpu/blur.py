"""Batched ``GaussianBlur`` with a per-sample sigma: separable grouped convolutions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from spt_data.gpu._base import RandomOp
from spt_data.gpu._random import bernoulli, uniform


def gaussian_kernels(kernel_size: int, sigma: Tensor) -> Tensor:
    """1-D Gaussian kernels (N, kernel_size), one per sigma (N,), each summing to 1."""
    half = (kernel_size - 1) / 2.0
    x = torch.linspace(-half, half, kernel_size, dtype=sigma.dtype, device=sigma.device)
    k = torch.exp(-0.5 * (x[None, :] / sigma[:, None]) ** 2)
    return k / k.sum(dim=1, keepdim=True)


def gaussian_blur(x: Tensor, kernel_size: tuple[int, int], sigma: Tensor) -> Tensor:
    """Blur each sample with its own sigma, reflect padding, as torchvision's gaussian_blur.

    Args:
        x: Float images (N, C, H, W).
        kernel_size: (kx, ky), odd, as torchvision orders them (width first).
        sigma: Per-sample standard deviation (N,), used for both axes; ``sigma <= 0`` leaves
            that sample unchanged.

    Returns:
        Blurred images (N, C, H, W).
    """
    n, c, h, w = x.shape
    kx, ky = kernel_size
    if kx // 2 >= w or ky // 2 >= h:
        raise ValueError(
            f"kernel_size={kernel_size} is too large for images of size {h}x{w}; "
            "reflect padding needs kernel_size // 2 < the image side."
        )
    sigma = sigma.to(x.dtype)
    off = sigma <= 0
    safe = torch.where(off, torch.ones_like(sigma), sigma)
    out = x.reshape(1, n * c, h, w)
    for axis, k in (("x", kx), ("y", ky)):
        kern = gaussian_kernels(k, safe)  # (N, k)
        delta = torch.zeros_like(kern)
        delta[:, k // 2] = 1.0
        kern = torch.where(off[:, None], delta, kern).repeat_interleave(c, dim=0)  # (N*C, k)
        if axis == "x":
            padded = F.pad(out, (k // 2, k // 2, 0, 0), mode="reflect")
            out = F.conv2d(padded, kern[:, None, None], groups=n * c)
        else:
            weight = kern[:, None, :, None]
            out = F.conv2d(F.pad(out, (0, 0, k // 2, k // 2), mode="reflect"), weight, groups=n * c)
    return out.reshape(n, c, h, w)


class GaussianBlur(RandomOp):
    """Gaussian blur with sigma ~ U(sigma) drawn per sample, applied with probability ``p``.

    Args:
        kernel_size: Odd int, or (kx, ky) as torchvision (width first).
        sigma: A fixed sigma or the (min, max) range it is drawn from.
        p: Probability per sample (torchvision's GaussianBlur always applies: ``p=1``).
        generator: Default generator for the draws.

    Params: ``sigma`` (N,), 0 for samples not selected.

    Examples:
        >>> GaussianBlur(3, sigma=(0.1, 2.0))(torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        sigma: float | tuple[float, float] = (0.1, 2.0),
        p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, generator)
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(ks) != 2 or any(k <= 0 or k % 2 == 0 for k in ks):
            raise ValueError(f"kernel_size={kernel_size!r} must be odd and positive.")
        self.kernel_size = (int(ks[0]), int(ks[1]))
        lo, hi = (sigma, sigma) if isinstance(sigma, (int, float)) else sigma
        if not 0.0 < lo <= hi:
            raise ValueError(f"sigma={sigma!r} must be positive with min <= max.")
        self.sigma = (float(lo), float(hi))

    def sample_params(
        self, shape: torch.Size, device: torch.device, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        n = int(shape[0])
        sigma = uniform(n, self.sigma[0], self.sigma[1], device, generator)
        apply = bernoulli(n, self.p, device, generator)
        return {"sigma": torch.where(apply, sigma, torch.zeros_like(sigma))}

    def apply_params(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        return gaussian_blur(x, self.kernel_size, params["sigma"])

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, sigma={self.sigma}, p={self.p}"
