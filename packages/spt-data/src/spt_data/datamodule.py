"""A LightningDataModule over ready-made DataLoaders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
from torch.utils.data import DataLoader
from typing_extensions import override

__all__ = ["DataModule"]

STAGES = ("train", "val", "test", "predict")


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
    """Hand ready-made DataLoaders to Lightning, one per stage.

    Stages without a DataLoader stay undefined for Lightning (as if the hook were not
    written), so ``trainer.fit(module, datamodule=DataModule(train=loader))`` runs without
    validation.

    Args:
        train: DataLoader for ``fit``.
        val: DataLoader for validation (in ``fit`` and ``validate``).
        test: DataLoader for ``test``.
        predict: DataLoader for ``predict``.
        gpu_transform: Batched transform applied on the device after the batch is moved: a
            callable for every stage, or a dict ``{"train": ..., "val": ...}`` per stage. Stored
            as ``self.gpu_transform``; ``spt_module.Module`` resolves and applies it.

    Raises:
        TypeError: a loader is not a ``torch.utils.data.DataLoader`` or ``gpu_transform`` is
            neither a callable nor a dict.
        ValueError: a ``gpu_transform`` dict has a key that is not a stage.

    Examples:
        >>> import torch
        >>> loader = DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 2)), batch_size=2)
        >>> data = DataModule(train=loader)
    """

    def __init__(
        self,
        train: DataLoader[Any] | None = None,
        val: DataLoader[Any] | None = None,
        test: DataLoader[Any] | None = None,
        predict: DataLoader[Any] | None = None,
        gpu_transform: Callable[[Any], Any] | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        loaders = {"train": train, "val": val, "test": test, "predict": predict}
        for stage, loader in loaders.items():
            if loader is not None and not isinstance(loader, DataLoader):
                raise TypeError(
                    f"DataModule: {stage} must be a torch.utils.data.DataLoader, got "
                    f"{type(loader).__name__}; wrap a dataset with "
                    f"DataLoader(dataset, batch_size=...)"
                )
            if loader is None:
                # Lightning treats a hook that is not overridden as "no data for this stage".
                setattr(self, f"{stage}_dataloader", getattr(super(), f"{stage}_dataloader"))
        self.loaders = loaders
        self.gpu_transform = _check_gpu_transform(gpu_transform)

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
