"""A LightningDataModule over ready-made DataLoaders."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning as L
from torch.utils.data import DataLoader
from typing_extensions import override

from spt_data.device_loader import DeviceLoader

__all__ = ["DataModule"]

STAGES = ("train", "val", "test", "predict")
# Lightning's setup(stage) -> the loaders that stage reads.
_SETUP_STAGES = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("predict",),
}


def _check_gpu_transform(gpu_transform: Any) -> Any:
    if gpu_transform is None or (
        callable(gpu_transform) and not isinstance(gpu_transform, Mapping)
    ):
        return gpu_transform
    if not isinstance(gpu_transform, Mapping):
        raise TypeError(
            "DataModule: gpu_transform must be a callable or a dict per stage such as "
            f"{{'train': ..., 'val': ...}}, got {type(gpu_transform).__name__}"
        )
    unknown = sorted(set(gpu_transform) - set(STAGES))
    if unknown:
        raise ValueError(
            f"DataModule: gpu_transform has unknown stage(s) {unknown}; "
            f"use keys from {list(STAGES)}"
        )
    for stage, transform in gpu_transform.items():
        if transform is not None and not callable(transform):
            raise TypeError(
                f"DataModule: gpu_transform[{stage!r}] must be callable or None, "
                f"got {type(transform).__name__}"
            )
    return dict(gpu_transform)


class DataModule(L.LightningDataModule):
    """Hand ready-made DataLoaders (or device-resident loaders) to Lightning, one per stage.

    Stages without a loader stay undefined for Lightning (as if the hook were not
    written), so ``trainer.fit(module, datamodule=DataModule(train=loader))`` runs without
    validation. A :class:`~spt_data.DeviceLoader` is placed in ``setup``: its tensors move to
    the Trainer's device (unless it was built with a ``device``) and it takes this process's
    shard under DDP.

    Args:
        train: DataLoader or DeviceLoader for ``fit``.
        val: DataLoader or DeviceLoader for validation (in ``fit`` and ``validate``).
        test: DataLoader or DeviceLoader for ``test``.
        predict: DataLoader or DeviceLoader for ``predict``.
        gpu_transform: Batched transform applied on the device after the batch is moved: a
            callable for every stage, or a dict ``{"train": ..., "val": ...}`` per stage. Stored
            as ``self.gpu_transform``; ``spt_module.Module`` resolves and applies it.

    Raises:
        TypeError: a loader is neither a ``torch.utils.data.DataLoader`` nor a
            ``DeviceLoader``, or ``gpu_transform`` is neither a callable nor a dict.
        ValueError: a ``gpu_transform`` dict has a key that is not a stage.

    Examples:
        >>> import torch
        >>> loader = DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 2)), batch_size=2)
        >>> data = DataModule(train=loader)
    """

    def __init__(
        self,
        train: DataLoader[Any] | DeviceLoader | None = None,
        val: DataLoader[Any] | DeviceLoader | None = None,
        test: DataLoader[Any] | DeviceLoader | None = None,
        predict: DataLoader[Any] | DeviceLoader | None = None,
        gpu_transform: Callable[[Any], Any] | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        loaders = {"train": train, "val": val, "test": test, "predict": predict}
        for stage, loader in loaders.items():
            if loader is not None and not isinstance(loader, (DataLoader, DeviceLoader)):
                raise TypeError(
                    f"DataModule: {stage} must be a torch.utils.data.DataLoader or an "
                    f"spt_data.DeviceLoader, got {type(loader).__name__}; wrap a dataset with "
                    f"DataLoader(dataset, batch_size=...)"
                )
            if loader is None:
                # Lightning treats a hook that is not overridden as "no data for this stage".
                setattr(self, f"{stage}_dataloader", getattr(super(), f"{stage}_dataloader"))
        self.loaders = loaders
        self.gpu_transform = _check_gpu_transform(gpu_transform)

    @classmethod
    def device_resident(
        cls,
        train: Any = None,
        val: Any = None,
        *,
        batch_size: int,
        val_batch_size: int | None = None,
        keys: Sequence[str] | None = None,
        seed: int = 0,
        gpu_transform: Callable[[Any], Any] | Mapping[str, Any] | None = None,
    ) -> DataModule:
        """A DataModule whose datasets are stacked once and served from the device.

        ``train`` is read into a shuffled :class:`~spt_data.DeviceLoader` with
        ``drop_last=True``, ``val`` into one in order with ``drop_last=False`` (see
        :meth:`DeviceLoader.from_dataset`).

        Args:
            train: Dict dataset for ``fit`` (uint8 images, for a GPU recipe), or None.
            val: Dict dataset for validation, or None.
            batch_size: Training batch size (per process).
            val_batch_size: Validation batch size; default ``batch_size``.
            keys: Keys to keep from the samples (default all but ``sample_idx``).
            seed: Base seed of the training order.
            gpu_transform: As for the constructor.

        Examples:
            >>> import torch
            >>> from spt_data import DictDataset
            >>> ds = DictDataset({"x": torch.randn(8, 2), "label": [0, 1] * 4})
            >>> DataModule.device_resident(ds, ds, batch_size=4)
            DataModule(stages=['train', 'val'], gpu_transform=False)
        """
        loaders: dict[str, DeviceLoader | None] = {"train": None, "val": None}
        if train is not None:
            loaders["train"] = DeviceLoader.from_dataset(
                train, batch_size, keys=keys, shuffle=True, drop_last=True, seed=seed
            )
        if val is not None:
            loaders["val"] = DeviceLoader.from_dataset(
                val, val_batch_size or batch_size, keys=keys, shuffle=False, drop_last=False
            )
        return cls(**loaders, gpu_transform=gpu_transform)

    @override
    def setup(self, stage: str) -> None:
        """Place the stage's DeviceLoaders on the Trainer's device and this process's shard."""
        trainer = self.trainer
        if trainer is None:
            return
        for name in _SETUP_STAGES.get(stage, STAGES):
            loader = self.loaders[name]
            if isinstance(loader, DeviceLoader):
                loader.place(
                    trainer.strategy.root_device,
                    rank=trainer.global_rank,
                    world_size=trainer.world_size,
                )

    @override
    def train_dataloader(self) -> Any:
        return self.loaders["train"]

    @override
    def val_dataloader(self) -> Any:
        return self.loaders["val"]

    @override
    def test_dataloader(self) -> Any:
        return self.loaders["test"]

    @override
    def predict_dataloader(self) -> Any:
        return self.loaders["predict"]

    def __repr__(self) -> str:
        given = [stage for stage, loader in self.loaders.items() if loader is not None]
        return f"DataModule(stages={given}, gpu_transform={self.gpu_transform is not None})"
