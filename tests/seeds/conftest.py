"""Stand-ins that let the code examples of the seed documents run offline, fast, on a CPU.

The ``seed_sandbox`` fixture replaces, for one test:

- ``torchvision.datasets.CIFAR10`` by :class:`FakeCIFAR10`: the same shape (32x32 RGB PIL
  images, integer labels in 0..9, ``root``/``train``/``transform``/``download`` arguments),
  64 training and 32 test images, generated from a seed; nothing is downloaded.
- ``datasets.load_dataset("frgfm/imagenette", "160px", ...)`` by a 16-row in-memory
  ``datasets.Dataset`` of 160x213 RGB images and labels (other paths are refused).
- ``torch.utils.data.DataLoader`` by a subclass that caps ``batch_size`` at 4 and runs without
  worker processes (the machine has 2 cores; the stand-in data has 64 images).
- ``lightning.Trainer`` by a subclass that trains 1 epoch of 1 batch, validates on
  1 batch (no sanity check), on 1 CPU device, in 32-bit precision (a seed's
  ``precision="16-mixed"`` becomes bf16 autocast on a CPU, about five times slower there),
  without a progress bar.
- Weights & Biases by ``WANDB_MODE=disabled``; the working directory is a temporary folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader

TRAIN_SIZE, TEST_SIZE, MAX_BATCH = 64, 32, 4
QUICK_TRAINER = {
    "max_epochs": 1,
    "max_steps": -1,
    "limit_train_batches": 1,
    "limit_val_batches": 1,
    "limit_test_batches": 1,
    "num_sanity_val_steps": 0,
    "precision": "32-true",
    "accelerator": "cpu",
    "devices": 1,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}


class FakeCIFAR10(torchvision.datasets.VisionDataset):
    """CIFAR-10's shape without its data: 32x32 RGB PIL images, 10 classes, seeded pixels."""

    classes = (
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    )  # fmt: skip

    def __init__(
        self,
        root: str | Path,
        train: bool = True,
        transform: Any = None,
        target_transform: Any = None,
        download: bool = False,
    ) -> None:
        super().__init__(str(root), transform=transform, target_transform=target_transform)
        n = TRAIN_SIZE if train else TEST_SIZE
        rng = np.random.default_rng(0 if train else 1)
        self.data = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        self.targets = [int(i % 10) for i in range(n)]
        self.train = train

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


def fake_load_dataset(
    path: str, name: str | None = None, split: str | None = None, **kwargs: Any
) -> Any:
    """``datasets.load_dataset`` for ``frgfm/imagenette``: 16 local rows, 10 classes."""
    import datasets

    if path != "frgfm/imagenette":
        raise AssertionError(f"the seed examples load only frgfm/imagenette, not {path!r}")
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


class SmallDataLoader(DataLoader):  # type: ignore[type-arg]
    """A DataLoader with ``batch_size <= 8`` and no worker processes."""

    def __init__(self, dataset: Any, batch_size: int | None = 1, *args: Any, **kwargs: Any) -> None:
        kwargs["num_workers"] = 0
        kwargs.pop("persistent_workers", None)
        kwargs.pop("prefetch_factor", None)
        if batch_size is not None:
            batch_size = min(batch_size, MAX_BATCH)
        super().__init__(dataset, batch_size, *args, **kwargs)


class QuickTrainer(lightning.Trainer):
    """``lightning.Trainer`` with :data:`QUICK_TRAINER` forced over the given arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(QUICK_TRAINER)
        super().__init__(*args, **kwargs)


@pytest.fixture
def seed_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install the stand-ins of this module's docstring and work in ``tmp_path``."""
    import datasets
    import lightning.pytorch

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "examples"))  # cifar_transforms
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(torch.utils.data, "DataLoader", SmallDataLoader)
    monkeypatch.setattr(lightning, "Trainer", QuickTrainer)
    monkeypatch.setattr(lightning.pytorch, "Trainer", QuickTrainer)
    torch.manual_seed(0)
    return tmp_path
