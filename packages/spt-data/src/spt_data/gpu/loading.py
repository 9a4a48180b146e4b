"""The uint8 loading path: collate uint8 images, pin them, copy without blocking, augment on device.

Workers only decode and collate uint8 images (4x fewer bytes than float32 and no per-sample
augmentation on the CPU); the copy to the device is asynchronous from pinned memory; the
random augmentation runs batched on the device after the copy.

With Lightning, the trainer does the copy (``pin_memory=True`` makes it non-blocking) and
the Module applies the data's ``gpu_transform`` in ``on_after_batch_transfer``::

    views = MultiViewGPUTransform([recipe_1, recipe_2])
    data = spt_data.DataModule(train=uint8_loader(train_set, 512), gpu_transform=views)

(a dataset may instead carry the attribute ``train_set.gpu_transform = views``; the dataset's
wins). In a plain PyTorch loop::

    for batch in uint8_loader(train_set, 512):
        views = transform(transfer_batch(batch, "cuda"))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, default_collate


class _Uint8Collate:
    """``default_collate`` that checks ``batch[key]`` is uint8 (picklable for workers)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, samples: list[Any]) -> Any:
        batch = default_collate(samples)
        image = batch.get(self.key) if isinstance(batch, Mapping) else None
        if not isinstance(image, Tensor) or image.dtype != torch.uint8:
            found = type(image).__name__ if not isinstance(image, Tensor) else image.dtype
            raise TypeError(
                f"uint8_loader(key={self.key!r}): samples must be dicts whose {self.key!r} is a "
                f"uint8 tensor (C, H, W) of one shared size; got {found}. Drop ToImage/"
                "normalisation from the dataset's CPU transform; the GPU recipe does it."
            )
        return batch


def uint8_loader(
    dataset: Dataset[Any],
    batch_size: int,
    *,
    key: str = "image",
    shuffle: bool = True,
    drop_last: bool = True,
    num_workers: int = 0,
    pin_memory: bool | None = None,
    **kwargs: Any,
) -> DataLoader[Any]:
    """A DataLoader of uint8 image batches meant for a GPU augmentation recipe.

    Args:
        dataset: Map-style dataset of dicts with ``key`` a uint8 tensor (C, H, W) of one
            shared size (e.g. ``spt_data.digits()``).
        batch_size: Images per batch.
        key: Entry holding the image.
        shuffle: Shuffle every epoch.
        drop_last: Drop the last incomplete batch (keeps batch-norm statistics sane in SSL).
        num_workers: DataLoader workers (decoding only; no augmentation happens there).
        pin_memory: Page-locked batches for a non-blocking copy; default: CUDA is available.
        **kwargs: Passed to ``torch.utils.data.DataLoader``.

    Returns:
        The DataLoader; each batch is a dict with ``key`` uint8 (N, C, H, W).

    Raises:
        TypeError: at the first batch, when ``key`` is not a uint8 tensor.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive int.")
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    if num_workers > 0:
        kwargs.setdefault("persistent_workers", True)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        pin_memory=pin_memory,
        collate_fn=kwargs.pop("collate_fn", _Uint8Collate(key)),
        **kwargs,
    )


def transfer_batch(batch: Any, device: torch.device | str) -> Any:
    """Copy every tensor of a (nested) batch to ``device`` with ``non_blocking=True``.

    The copy is asynchronous when the source is pinned (``uint8_loader`` pins on CUDA
    machines); what Lightning does for you in ``transfer_batch_to_device``.
    """
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: transfer_batch(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(transfer_batch(v, device) for v in batch)
    return batch
