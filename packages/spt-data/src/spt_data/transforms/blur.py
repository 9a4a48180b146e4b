"""Gaussian blur on the image key."""

from __future__ import annotations

from collections.abc import Sequence

from torchvision.transforms import v2

from spt_data.transforms._base import DictTransform

__all__ = ["GaussianBlur"]


class GaussianBlur(DictTransform):
    """Blur with a Gaussian of random ``sigma`` with probability ``p`` (``v2.GaussianBlur``).

    Args:
        kernel_size: Odd kernel size, or ``(kx, ky)``; about a tenth of the image side is usual
            (23 for 224 pixels, 3 for 32).
        sigma: Standard deviation, or a ``(min, max)`` range to draw it from.
        p: Probability of blurring (BYOL uses 1.0 and 0.1 for its two views).
        key: The key to transform.
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int] = 23,
        sigma: float | tuple[float, float] = (0.1, 2.0),
        p: float = 1.0,
        *,
        key: str = "image",
    ) -> None:
        super().__init__(v2.GaussianBlur(kernel_size, sigma=sigma), key=key, p=p)
