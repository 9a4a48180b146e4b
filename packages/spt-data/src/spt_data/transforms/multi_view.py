"""Several augmented views of one sample."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["MultiViewTransform"]


class MultiViewTransform:
    """Turn one sample dict into a list of view dicts, one per transform.

    Every view is made from the original sample, so each keeps ``sample_idx``, ``label`` and
    any other key the transforms do not touch. The default collate function turns a batch of
    such lists into a list of batched view dicts (``batch[v]["image"]`` has shape
    ``(B, C, H, W)``), the training batch that multi-view forward functions expect.

    Args:
        transforms: A list of transforms (one view each), or a single transform used for
            ``n_views`` views.
        n_views: Number of views when one transform is given; with a list it may be omitted
            or must equal the list's length.

    Raises:
        ValueError: ``n_views`` is missing for a single transform, is below 1, or disagrees
            with the length of the list.

    Examples:
        >>> from spt_data import transforms
        >>> two = transforms.MultiViewTransform(transforms.RandomHorizontalFlip(), n_views=2)
    """

    def __init__(
        self,
        transforms: Sequence[Callable[[Any], Any]] | Callable[[Any], Any],
        n_views: int | None = None,
    ) -> None:
        if n_views is not None and (isinstance(n_views, bool) or not isinstance(n_views, int)):
            raise TypeError(f"MultiViewTransform: n_views must be an int, got {n_views!r}")
        if n_views is not None and n_views < 1:
            raise ValueError(f"MultiViewTransform: n_views must be at least 1, got {n_views}")
        if isinstance(transforms, Sequence):
            views = list(transforms)
            if not views:
                raise ValueError("MultiViewTransform: the list of transforms is empty")
            if n_views is not None and n_views != len(views):
                raise ValueError(
                    f"MultiViewTransform: n_views={n_views} but {len(views)} transforms were "
                    "given; drop n_views or give one transform per view"
                )
        elif callable(transforms):
            if n_views is None:
                raise ValueError(
                    "MultiViewTransform: with a single transform pass n_views (e.g. n_views=2), "
                    "or pass a list with one transform per view"
                )
            views = [transforms] * n_views
        else:
            raise TypeError(
                "MultiViewTransform: transforms must be a list of callables or a callable, "
                f"got {type(transforms).__name__}"
            )
        for i, t in enumerate(views):
            if not callable(t):
                raise TypeError(
                    f"MultiViewTransform: transform {i} must be callable, got {type(t).__name__}"
                )
        self.transforms = views

    @property
    def n_views(self) -> int:
        """The number of views made per sample."""
        return len(self.transforms)

    def __call__(self, sample: Mapping[str, Any]) -> list[Any]:
        if not isinstance(sample, Mapping):
            raise TypeError(
                f"MultiViewTransform: expected a sample dict, got {type(sample).__name__}"
            )
        return [t(dict(sample)) for t in self.transforms]

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"MultiViewTransform([{inner}\n])"
