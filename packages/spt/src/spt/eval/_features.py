"""Features of a frozen network over a dataset with ``Trainer.predict``, each sample once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from spt.eval._gather import Features, gather_features

__all__ = ["IndexedDataset", "check_keys", "extract_features"]


class IndexedDataset(Dataset[dict[str, Any]]):
    """A dict dataset whose samples carry ``"sample_idx"`` (their index when they have none)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.dataset[index]
        if not isinstance(sample, Mapping):
            raise TypeError(
                f"spt.eval: dataset samples must be dicts (e.g. spt.data.FromTorchDataset(ds, "
                f"names=['image', 'label'])), got {type(sample).__name__}"
            )
        sample = dict(sample)
        sample.setdefault("sample_idx", index)
        return sample


def check_keys(dataset: Any, keys: Mapping[str, str], split: str) -> None:
    """Fail early, naming the key and its setting, when the first sample lacks one of ``keys``.

    Args:
        dataset: The dataset.
        keys: Setting name -> key looked for, e.g. ``{"label": "label"}``.
        split: ``"train"`` or ``"test"``, for the message.

    Raises:
        KeyError: Naming the key looked for, the setting that chose it and the keys there are.
    """
    sample = IndexedDataset(dataset)[0]
    for setting, key in keys.items():
        if key not in sample:
            raise KeyError(
                f"spt.eval: the {split} samples have no {key!r} (looked for {setting}={key!r}); "
                f"their keys are {sorted(map(str, sample))}; set {setting}=<key>"
            )


class _FeatureExtractor(pl.LightningModule):
    def __init__(self, network: nn.Module, input_key: str, label_key: str) -> None:
        super().__init__()
        self.network = network
        self.input_key = input_key
        self.label_key = label_key

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        out = self.network(batch[self.input_key])
        if isinstance(out, Mapping):  # a network returning a dict: its "embedding"
            out = out["embedding"]
        return {
            "embedding": out.detach().float(),
            "label": torch.as_tensor(batch[self.label_key]).long(),
            "sample_idx": torch.as_tensor(batch["sample_idx"]).long(),
        }


def extract_features(
    network: nn.Module,
    dataset: Any,
    trainer: pl.Trainer,
    *,
    batch_size: int = 256,
    num_workers: int = 0,
    input_key: str = "image",
    label_key: str = "label",
) -> Features:
    """Run the frozen ``network`` over ``dataset`` once with ``trainer.predict``.

    Works on any device and under DDP: Lightning gives every rank a part of the dataset,
    the parts are gathered on every rank, and each ``sample_idx`` is kept once.

    Args:
        network: Maps ``batch[input_key]`` to ``(B, D)`` features (put in eval mode).
        dataset: A dataset of dicts with ``input_key`` and ``label_key``.
        trainer: The Trainer whose ``predict`` runs the network.
        batch_size: Batch size of the loader.
        num_workers: Loader workers.
        input_key: Key of the network's input.
        label_key: Key of the label.

    Returns:
        The :class:`Features`, in dataset order.
    """
    loader = DataLoader(
        IndexedDataset(dataset), batch_size=batch_size, shuffle=False, num_workers=num_workers
    )
    was_training = network.training
    module = _FeatureExtractor(network, input_key, label_key)
    parts = trainer.predict(module, dataloaders=loader, return_predictions=True)
    network.train(was_training)
    return gather_features(trainer, parts or [])  # type: ignore[arg-type]
