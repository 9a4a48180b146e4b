"""Multi-crop: a few large (global) views and several small (local) views of one sample."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from spt_data.transforms.multi_view import MultiViewTransform

__all__ = ["MultiCropTransform", "multi_crop_views"]

Transform = Callable[[Any], Any]


def multi_crop_views(
    global_transforms: Sequence[Any] | Any,
    local_transforms: Sequence[Any] | Any,
    n_global: int,
    n_local: int,
    owner: str,
) -> list[Any]:
    """The list of view transforms of a multi-crop: ``n_global`` global ones, then ``n_local``.

    Each of ``global_transforms`` and ``local_transforms`` is one transform (repeated) or a
    list with exactly one transform per view (for recipes whose views differ, such as BYOL's
    and DINO's asymmetric blur and solarisation).

    Raises:
        ValueError: a count is negative (or ``n_global`` below 1), or a list's length is not
            the count it stands for.
    """
    for name, n, least in (("n_global", n_global, 1), ("n_local", n_local, 0)):
        if isinstance(n, bool) or not isinstance(n, int) or n < least:
            raise ValueError(f"{owner}: {name} must be an int >= {least}, got {n!r}")

    def expand(name: str, ts: Sequence[Any] | Any, n: int) -> list[Any]:
        if isinstance(ts, (list, tuple)):
            if len(ts) != n:
                raise ValueError(
                    f"{owner}: {len(ts)} {name} were given for {n} views; give one transform "
                    f"(repeated) or a list of {n}"
                )
            return list(ts)
        return [ts] * n

    return expand("global_transforms", global_transforms, n_global) + expand(
        "local_transforms", local_transforms, n_local
    )


class MultiCropTransform(MultiViewTransform):
    """Multi-crop (Caron et al. 2020, SwAV): ``n_global`` global views, then ``n_local`` local ones.

    A :class:`MultiViewTransform` whose views are ordered global first, the order the
    multi-crop forward functions (``spt.forward.swav``, ``spt.forward.dino``) read: the
    first ``n_global`` views are the large crops (the ones a teacher or the codes see), the
    rest the small ones. Each view is drawn independently from the original sample, so the
    local crops of one sample differ from each other.

    Args:
        global_transforms: The transform of a global view (repeated ``n_global`` times), or a
            list of ``n_global`` transforms, one per global view.
        local_transforms: The transform of a local view (usually a smaller
            ``RandomResizedCrop`` size), or a list of ``n_local`` transforms.
        n_global: Number of global views (2 in SwAV and DINO).
        n_local: Number of local views (6 in SwAV, 8 in DINO); 0 gives the global views only.

    Raises:
        ValueError: a count is negative (``n_global`` below 1) or a list's length differs
            from its count.

    Examples:
        >>> import torch
        >>> from spt_data import transforms
        >>> crop = lambda size, scale: transforms.RandomResizedCrop(size, scale=scale)
        >>> t = transforms.MultiCropTransform(
        ...     crop(32, (0.14, 1.0)), crop(16, (0.05, 0.14)), n_global=2, n_local=4
        ... )
        >>> [v["image"].shape[-1] for v in t({"image": torch.rand(3, 40, 40)})]
        [32, 32, 16, 16, 16, 16]
    """

    def __init__(
        self,
        global_transforms: Sequence[Transform] | Transform,
        local_transforms: Sequence[Transform] | Transform,
        n_global: int = 2,
        n_local: int = 6,
    ) -> None:
        views = multi_crop_views(
            global_transforms, local_transforms, n_global, n_local, "MultiCropTransform"
        )
        super().__init__(views)
        self.n_global = n_global
        self.n_local = n_local

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"MultiCropTransform(n_global={self.n_global}, n_local={self.n_local}, [{inner}\n])"
