"""Colour transforms on the image key."""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms import v2

from spt_data.transforms._base import DictTransform, check_p

__all__ = ["RGB", "ColorJitter", "RandomGrayscale", "RandomSolarize"]

Range = float | tuple[float, float]


class RGB(DictTransform):
    """Convert to three channels (``v2.RGB``): grayscale is repeated, RGBA loses alpha.

    Args:
        key: The key to transform.
    """

    def __init__(self, *, key: str = "image") -> None:
        super().__init__(v2.RGB(), key=key)


class ColorJitter(DictTransform):
    """Randomly change brightness, contrast, saturation and hue (``v2.ColorJitter``).

    Args:
        brightness: Jitter factor or ``(min, max)`` range; 0 leaves it unchanged.
        contrast: As ``brightness``.
        saturation: As ``brightness``.
        hue: Jitter in ``[-hue, hue]`` with ``0 <= hue <= 0.5``, or a range.
        p: Probability of jittering at all (SimCLR uses 0.8).
        key: The key to transform.
    """

    def __init__(
        self,
        brightness: Range = 0.0,
        contrast: Range = 0.0,
        saturation: Range = 0.0,
        hue: Range = 0.0,
        p: float = 1.0,
        *,
        key: str = "image",
    ) -> None:
        op = v2.ColorJitter(
            brightness=brightness, contrast=contrast, saturation=saturation, hue=hue
        )
        super().__init__(op, key=key, p=p)


class RandomGrayscale(DictTransform):
    """Convert to grayscale, keeping the number of channels, with probability ``p``.

    Args:
        p: Probability of converting.
        key: The key to transform.
    """

    def __init__(self, p: float = 0.1, *, key: str = "image") -> None:
        p = check_p(type(self).__name__, p)
        super().__init__(v2.RandomGrayscale(p=p), key=key, p=p, op_applies_p=True)


class RandomSolarize(DictTransform):
    """Invert the pixels at or above ``threshold`` with probability ``p``.

    ``threshold`` is on the [0, 1] scale whatever the image type: it is compared with float
    images as is and scaled to the dtype's maximum for integer images and PIL images
    (``0.5`` becomes ``127.5`` for ``uint8``).

    Args:
        threshold: Solarisation threshold in ``[0, 1]``.
        p: Probability of solarising.
        key: The key to transform.

    Raises:
        ValueError: ``threshold`` is outside ``[0, 1]``.
    """

    def __init__(self, threshold: float = 0.5, p: float = 0.5, *, key: str = "image") -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError(f"RandomSolarize: threshold must be a number, got {threshold!r}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(
                f"RandomSolarize: threshold is on the [0, 1] scale, got {threshold}; "
                f"for a uint8 threshold t pass t / 255 (here {threshold / 255:.4f})"
            )
        self.threshold = float(threshold)
        p = check_p("RandomSolarize", p)
        self._float_op = v2.RandomSolarize(self.threshold, p=p)
        self._uint8_op = v2.RandomSolarize(self.threshold * 255.0, p=p)
        super().__init__(self._solarize, key=key, p=p, op_applies_p=True)

    def _solarize(self, image: Any) -> Any:
        if isinstance(image, torch.Tensor):
            if image.is_floating_point():
                return self._float_op(image)
            if image.dtype != torch.uint8:
                return v2.RandomSolarize(self.threshold * torch.iinfo(image.dtype).max, p=self.p)(
                    image
                )
        return self._uint8_op(image)

    def extra_repr(self) -> str:
        """Arguments shown by ``repr``."""
        return f"threshold={self.threshold}, " + super().extra_repr()
