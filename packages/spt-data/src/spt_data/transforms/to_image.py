"""Convert to a normalised float tensor."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from spt_data.transforms._base import DictTransform

__all__ = ["ToImage"]


class ToImage(DictTransform):
    """Convert a PIL image, array or tensor to a ``(C, H, W)`` float tensor, then normalise.

    ``v2.ToImage`` + ``v2.ToDtype(dtype, scale=True)`` (uint8 0..255 becomes 0..1) +
    ``v2.Normalize(mean, std)`` when ``mean`` and ``std`` are given.

    Args:
        mean: Per-channel means, e.g. ``spt_data.static.CIFAR10["mean"]``.
        std: Per-channel standard deviations.
        dtype: Output dtype.
        key: The key to transform.

    Raises:
        ValueError: only one of ``mean`` and ``std`` is given, or their lengths differ.

    Examples:
        >>> from spt_data import static
        >>> t = ToImage(**static.CIFAR10)
    """

    def __init__(
        self,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        key: str = "image",
    ) -> None:
        if (mean is None) != (std is None):
            raise ValueError(
                f"ToImage: give both mean and std or neither, got mean={mean!r}, std={std!r}"
            )
        ops: list[v2.Transform] = [v2.ToImage(), v2.ToDtype(dtype, scale=True)]
        if mean is not None and std is not None:
            if len(mean) != len(std):
                raise ValueError(
                    f"ToImage: mean has {len(mean)} values and std has {len(std)}; "
                    "give one of each per channel"
                )
            if any(s <= 0 for s in std):
                raise ValueError(f"ToImage: std must be positive, got {tuple(std)}")
            ops.append(v2.Normalize(list(mean), list(std)))
        self.mean = None if mean is None else tuple(mean)
        self.std = None if std is None else tuple(std)
        super().__init__(v2.Compose(ops), key=key)
