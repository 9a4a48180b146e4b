"""Find the GPU-side batch transform for the batch Lightning has just moved to the device.

Resolution order (first match wins):

1. ``dataset.gpu_transform`` of the dataset behind the active DataLoader;
2. ``trainer.datamodule.gpu_transform``: a callable, or a dict keyed by stage
   (``"train"``, ``"val"``, ``"test"``, ``"predict"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.trainer.states import RunningStage
from torch import nn

from spt_module._memory_format import ask_transform_for_channels_last

__all__ = ["GPU_TRANSFORM_ON_MODULE", "TRANSFORM_KEYS", "GPUTransforms", "resolve_gpu_transform"]

#: Lightning's running stage -> the key of the DataLoader and of a per-stage
#: ``datamodule.gpu_transform`` dict.
TRANSFORM_KEYS: dict[RunningStage, str] = {
    RunningStage.TRAINING: "train",
    RunningStage.SANITY_CHECKING: "val",
    RunningStage.VALIDATING: "val",
    RunningStage.TESTING: "test",
    RunningStage.PREDICTING: "predict",
}


def _active_loaders(trainer: pl.Trainer, key: str) -> Any:
    if key == "train":
        return trainer.train_dataloader
    if key == "val":
        return trainer.val_dataloaders
    if key == "test":
        return trainer.test_dataloaders
    return trainer.predict_dataloaders


def _pick(loaders: Any, dataloader_idx: int) -> Any:
    if isinstance(loaders, Mapping):
        loaders = list(loaders.values())
    if isinstance(loaders, Sequence) and not isinstance(loaders, (str, bytes)):
        return loaders[dataloader_idx] if dataloader_idx < len(loaders) else None
    return loaders


def resolve_gpu_transform(trainer: pl.Trainer, dataloader_idx: int) -> Callable[[Any], Any] | None:
    """The transform to apply to the current batch, or ``None`` when nothing is set.

    Args:
        trainer: The running Trainer (its stage selects the DataLoader and the dict key).
        dataloader_idx: Index of the DataLoader that produced the batch.

    Raises:
        TypeError: If the resolved transform is not callable.
    """
    stage = trainer.state.stage
    key = None if stage is None else TRANSFORM_KEYS.get(stage)
    if key is None:
        return None
    loader = _pick(_active_loaders(trainer, key), dataloader_idx)
    transform = getattr(getattr(loader, "dataset", None), "gpu_transform", None)
    source = "dataset.gpu_transform"
    if transform is None:
        datamodule = trainer.datamodule  # type: ignore[attr-defined]  # set by fit/validate/...
        transform = getattr(datamodule, "gpu_transform", None)
        source = "datamodule.gpu_transform"
        if isinstance(transform, Mapping):
            transform = transform.get(key)
            source = f"datamodule.gpu_transform[{key!r}]"
    if transform is not None and not callable(transform):
        raise TypeError(
            f"{source} must be callable (batch -> batch), got {type(transform).__name__}; "
            "use an nn.Module such as spt_data.gpu.GPUCompose."
        )
    return transform


class GPUTransforms:
    """The resolved transform of each (stage, DataLoader), found on first use and kept.

    A transform that is an ``nn.Module`` is moved to the device when it is found; with
    ``channels_last`` it is asked to write its images channels-last. Nothing set is kept as
    ``None``, so a batch without a transform costs a dict lookup.
    """

    def __init__(self) -> None:
        self._found: dict[tuple[Any, int], Callable[[Any], Any] | None] = {}

    def __len__(self) -> int:
        return len(self._found)

    def clear(self) -> None:
        """Forget every resolved transform (a new ``fit``/``validate``/... may bring others)."""
        self._found.clear()

    def get(
        self, trainer: pl.Trainer, dataloader_idx: int, device: torch.device, channels_last: bool
    ) -> Callable[[Any], Any] | None:
        """The transform for the Trainer's current stage and ``dataloader_idx``, or ``None``."""
        key = (trainer.state.stage, dataloader_idx)
        if key not in self._found:
            transform = resolve_gpu_transform(trainer, dataloader_idx)
            if isinstance(transform, nn.Module):
                transform = transform.to(device)
            if channels_last:
                ask_transform_for_channels_last(transform)
            self._found[key] = transform
        return self._found[key]


GPU_TRANSFORM_ON_MODULE = (
    "Module: gpu_transform on the Module is not supported; set it on the dataset "
    "(dataset.gpu_transform = ...) or on the DataModule (DataModule(gpu_transform=...), "
    "a callable or a dict keyed 'train'/'val'/'test'/'predict')."
)
