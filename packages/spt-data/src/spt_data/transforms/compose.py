"""Chain dict transforms."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Compose"]


class Compose:
    """Apply transforms one after the other, each taking and returning a sample dict.

    Args:
        *transforms: The transforms, as separate arguments (a single list is accepted too).

    Examples:
        >>> from spt_data import transforms
        >>> t = transforms.Compose(transforms.RGB(), transforms.Resize((32, 32)))
    """

    def __init__(self, *transforms: Callable[[Any], Any]) -> None:
        if len(transforms) == 1 and isinstance(transforms[0], Sequence):
            transforms = tuple(transforms[0])
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(
                    f"Compose: transform {i} must be callable, got {type(t).__name__} ({t!r:.60})"
                )
        self.transforms = list(transforms)

    def __call__(self, sample: Any) -> Any:
        for t in self.transforms:
            sample = t(sample)
        return sample

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose({inner}\n)"
