"""Offline stand-ins for the tests of the usage stable-pretraining's documentation shows.

- :class:`CIFAR10StandIn`: CIFAR-10's shape without its data (32x32 RGB PIL images, labels
  in 0..9, the ``root``/``train``/``transform``/``download`` arguments), 64 training and 32
  test images drawn from a fixed generator; nothing is downloaded.
- ``offline_hub``: ``datasets.load_dataset("frgfm/imagenette", "160px", ...)`` answers with a
  16-row in-memory dataset of 160x213 RGB images and labels (other paths are refused).
- ``workdir``: a temporary working directory, Weights & Biases disabled, torch seeded.
- ``quick_trainer``: builds a Trainer of one training batch and one validation batch on the CPU.
- ``cifar_transforms``: SimCLR's two views, a training and a validation transform at 32x32.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning as pl
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

TRAIN_SIZE, TEST_SIZE = 64, 32


class CIFAR10StandIn(torchvision.datasets.VisionDataset):
    """32x32 RGB PIL images with integer labels in 0..9, like ``torchvision.datasets.CIFAR10``."""

    def __init__(
        self,
        root: str | Path = "./data",
        train: bool = True,
        transform: Any = None,
        target_transform: Any = None,
        download: bool = False,
    ) -> None:
        super().__init__(str(root), transform=transform, target_transform=target_transform)
        n = TRAIN_SIZE if train else TEST_SIZE
        rng = np.random.default_rng(0 if train else 1)
        self.data = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        self.targets = [i % 10 for i in range(n)]

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image: Any = Image.fromarray(self.data[index])
        target: Any = self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target


def _quick_trainer(**kwargs: Any) -> pl.Trainer:
    """A CPU Trainer of one epoch with one training and one validation batch, no logger."""
    settings: dict[str, Any] = {
        "max_epochs": 1,
        "limit_train_batches": 1,
        "limit_val_batches": 1,
        "num_sanity_val_steps": 0,
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    settings.update(kwargs)
    return pl.Trainer(**settings)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in ``tmp_path`` with wandb disabled and torch seeded."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    torch.manual_seed(0)
    return tmp_path


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """``datasets.load_dataset`` answers ``frgfm/imagenette`` with 16 local rows."""
    datasets = pytest.importorskip("datasets")

    def load_dataset(path: str, name: str | None = None, split: str | None = None, **_: Any) -> Any:
        if path != "frgfm/imagenette":
            raise AssertionError(f"only frgfm/imagenette is available offline, not {path!r}")
        rng = np.random.default_rng(2)
        images = [
            Image.fromarray(rng.integers(0, 256, (160, 213, 3), dtype=np.uint8)) for _ in range(16)
        ]
        features = datasets.Features(
            {"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)}
        )
        return datasets.Dataset.from_dict(
            {"image": images, "label": [i % 10 for i in range(16)]}, features=features
        )

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


@pytest.fixture
def cifar10() -> type[CIFAR10StandIn]:
    """The class that stands in for ``torchvision.datasets.CIFAR10``."""
    return CIFAR10StandIn


@pytest.fixture
def quick_trainer() -> Callable[..., pl.Trainer]:
    """``quick_trainer(**kwargs)``: one training and one validation batch; kwargs override."""
    return _quick_trainer


@pytest.fixture
def cifar_transforms() -> SimpleNamespace:
    """``simclr`` (two views), ``train`` and ``val`` transforms for 32x32 RGB images."""
    import spt
    from spt.data import transforms

    normalize = transforms.ToImage(**spt.data.static.CIFAR10)

    def view(scale: tuple[float, float]) -> Any:
        return transforms.Compose(
            transforms.RGB(),
            transforms.RandomResizedCrop((32, 32), scale=scale),
            transforms.RandomHorizontalFlip(p=0.5),
            normalize,
        )

    return SimpleNamespace(
        simclr=transforms.MultiViewTransform([view((0.2, 1.0)), view((0.08, 1.0))]),
        train=view((0.08, 1.0)),
        val=transforms.Compose(transforms.RGB(), transforms.Resize((32, 32)), normalize),
    )
