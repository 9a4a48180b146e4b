"""Per-channel normalisation statistics of common datasets.

Each entry is a dict with ``"mean"`` and ``"std"`` (RGB order, on the [0, 1] scale), so it
unpacks straight into :class:`spt_data.transforms.ToImage`.

Examples:
    >>> from spt_data import static, transforms
    >>> to_tensor = transforms.ToImage(**static.CIFAR10)
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["CIFAR10", "CIFAR100", "STL10", "ImageNet", "Stats", "digits"]


class Stats(TypedDict):
    """Per-channel ``mean`` and ``std``; typed so that ``ToImage(**CIFAR10)`` type-checks."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


CIFAR10: Stats = {
    "mean": (0.4914, 0.4822, 0.4465),
    "std": (0.2470, 0.2435, 0.2616),
}
CIFAR100: Stats = {
    "mean": (0.5071, 0.4865, 0.4409),
    "std": (0.2673, 0.2564, 0.2762),
}
STL10: Stats = {
    "mean": (0.4467, 0.4398, 0.4066),
    "std": (0.2603, 0.2566, 0.2713),
}
ImageNet: Stats = {
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
}
# Statistics of the training split of `spt_data.digits(size=32, rgb=True)` (the three channels
# are copies of one). For `rgb=False` use the first entry of each tuple.
digits: Stats = {
    "mean": (0.3055, 0.3055, 0.3055),
    "std": (0.3237, 0.3237, 0.3237),
}
