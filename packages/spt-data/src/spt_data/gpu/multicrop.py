"""``MultiCropGPUTransform``: global views, then smaller local views, of one batch on the device."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from spt_data.gpu.multiview import MultiViewGPUTransform
from spt_data.transforms.multi_crop import multi_crop_views

__all__ = ["MultiCropGPUTransform"]

Recipe = nn.Module | Callable[[Tensor], Tensor]


class MultiCropGPUTransform(MultiViewGPUTransform):
    """Multi-crop on the device: ``n_global`` global views first, then ``n_local`` local ones.

    The batched counterpart of :class:`spt_data.transforms.MultiCropTransform`. Every view
    has its own draws per sample, so two local crops of one image differ; views of different
    sizes come out as separate tensors, global first.

    Args:
        global_transforms: The recipe of a global view (repeated), or one per global view.
        local_transforms: The recipe of a local view (a smaller ``RandomResizedCrop``
            size), or one per local view.
        n_global: Number of global views (2 in SwAV and DINO).
        n_local: Number of local views; 0 gives the global views only.
        key: Batch entry holding the images (N, C, H, W).
        generator: Default generator for every view's draws.
        memory_format: Layout of every view, e.g. ``torch.channels_last`` (see
            :class:`~spt_data.gpu.GPUCompose`).

    Raises:
        ValueError: a count is negative (``n_global`` below 1) or a list's length differs
            from its count.

    Examples:
        >>> from spt_data.gpu import GPUCompose, RandomResizedCrop
        >>> t = MultiCropGPUTransform(
        ...     GPUCompose(RandomResizedCrop(32, scale=(0.14, 1.0))),
        ...     GPUCompose(RandomResizedCrop(16, scale=(0.05, 0.14))),
        ...     n_global=2,
        ...     n_local=3,
        ... )
        >>> [v.shape[-1] for v in t(torch.zeros(4, 3, 40, 40, dtype=torch.uint8))]
        [32, 32, 16, 16, 16]
    """

    def __init__(
        self,
        global_transforms: Sequence[Recipe] | Recipe,
        local_transforms: Sequence[Recipe] | Recipe,
        n_global: int = 2,
        n_local: int = 6,
        key: str = "image",
        generator: torch.Generator | None = None,
        memory_format: torch.memory_format | None = None,
    ) -> None:
        views = multi_crop_views(
            global_transforms, local_transforms, n_global, n_local, "MultiCropGPUTransform"
        )
        super().__init__(views, key=key, generator=generator, memory_format=memory_format)
        self.n_global = n_global
        self.n_local = n_local

    def extra_repr(self) -> str:
        return f"key={self.key!r}, n_global={self.n_global}, n_local={self.n_local}"
