"""Geometric transforms on the image key: crops, resizing and flips."""

from __future__ import annotations

from collections.abc import Sequence

from torchvision.transforms import v2

from spt_data.transforms._base import DictTransform, check_p

__all__ = ["CenterCrop", "RandomHorizontalFlip", "RandomResizedCrop", "Resize"]

Size = int | Sequence[int]
BILINEAR = v2.InterpolationMode.BILINEAR


class RandomResizedCrop(DictTransform):
    """Crop a random area and aspect ratio, then resize to ``size`` (``v2.RandomResizedCrop``).

    Args:
        size: Output size ``(H, W)`` or one int for a square.
        scale: Range of the crop area as a fraction of the image area.
        ratio: Range of the crop aspect ratio.
        interpolation: Interpolation used for resizing.
        antialias: Whether to antialias when downsampling.
        p: Probability of cropping; a sample that is not cropped keeps its size.
        key: The key to transform.
    """

    def __init__(
        self,
        size: Size,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        interpolation: v2.InterpolationMode = BILINEAR,
        antialias: bool = True,
        p: float = 1.0,
        *,
        key: str = "image",
    ) -> None:
        op = v2.RandomResizedCrop(
            size, scale=scale, ratio=ratio, interpolation=interpolation, antialias=antialias
        )
        super().__init__(op, key=key, p=p)


class RandomHorizontalFlip(DictTransform):
    """Flip left-right with probability ``p`` (``v2.RandomHorizontalFlip``).

    Args:
        p: Probability of flipping.
        key: The key to transform.
    """

    def __init__(self, p: float = 0.5, *, key: str = "image") -> None:
        p = check_p(type(self).__name__, p)
        super().__init__(v2.RandomHorizontalFlip(p=p), key=key, p=p, op_applies_p=True)


class Resize(DictTransform):
    """Resize to ``size`` (``v2.Resize``); one int resizes the shorter side.

    Args:
        size: Output size ``(H, W)``, or one int for the shorter side.
        interpolation: Interpolation mode.
        max_size: Bound on the longer side when ``size`` is one int.
        antialias: Whether to antialias when downsampling.
        key: The key to transform.
    """

    def __init__(
        self,
        size: Size,
        interpolation: v2.InterpolationMode = BILINEAR,
        max_size: int | None = None,
        antialias: bool = True,
        *,
        key: str = "image",
    ) -> None:
        op = v2.Resize(size, interpolation=interpolation, max_size=max_size, antialias=antialias)
        super().__init__(op, key=key)


class CenterCrop(DictTransform):
    """Crop the centre to ``size`` (``v2.CenterCrop``).

    Args:
        size: Output size ``(H, W)`` or one int for a square.
        key: The key to transform.
    """

    def __init__(self, size: Size, *, key: str = "image") -> None:
        super().__init__(v2.CenterCrop(size), key=key)
