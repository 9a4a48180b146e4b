"""CIFAR-10 and CIFAR-100 read from their "python version" pickle batches, without a download.

The archives of Krizhevsky (2009), "Learning Multiple Layers of Features from Tiny Images",
unpack into ``cifar-10-batches-py/`` (``data_batch_1`` ... ``data_batch_5``, ``test_batch``,
``batches.meta``) and ``cifar-100-python/`` (``train``, ``test``, ``meta``). Each batch is a
pickled dict whose ``data`` is a uint8 array ``(N, 3072)``: the 1,024 red values of a 32x32
image row by row, then the green ones, then the blue ones.

The files are read with an unpickler that only builds numpy arrays (any other object in the
file is refused), so a tampered batch cannot run code. The whole split comes back as two
tensors, ready for a device-resident loader (50,000 training images are 150 MB as uint8);
:func:`cifar` wraps them in a :class:`~spt_data.DictDataset` for a DataLoader.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision import tv_tensors

from spt_data.datasets import DictDataset, Transform

__all__ = ["cifar", "cifar_classes", "read_cifar"]

FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
SPLIT_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "cifar10": {
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
    },
    "cifar100": {"train": ("train",), "test": ("test",)},
}
META_FILES = {"cifar10": ("batches.meta", "label_names"), "cifar100": ("meta", "fine_label_names")}
URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
}
LABELS = {"fine": "fine_labels", "coarse": "coarse_labels"}
SIDE = 32

# What a CIFAR batch may contain: numpy arrays and their dtypes (numpy 1 and 2 spellings), and
# the codec call that pickles of bytes written with protocol 2 use.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, lists, dicts, numbers and strings, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"read_cifar: the file wants to build {module}.{name}; a CIFAR batch holds only "
            "numpy arrays and lists. Refusing to load it: re-download the dataset"
        )


def _check_variant(variant: str) -> str:
    if variant not in FOLDERS:
        raise ValueError(f"read_cifar: variant must be one of {sorted(FOLDERS)}, got {variant!r}")
    return variant


def _batch_dir(root: str | Path, variant: str) -> Path:
    """``root/cifar-10-batches-py`` (torchvision's layout), or ``root`` itself if it is that."""
    root = Path(root).expanduser()
    nested = root / FOLDERS[variant]
    return nested if nested.is_dir() else root


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        raw = _ArrayUnpickler(handle, encoding="bytes").load()
    if not isinstance(raw, dict):
        raise ValueError(f"read_cifar: {path} holds a {type(raw).__name__}, not a CIFAR batch dict")
    # Batches written by Python 2 have bytes keys; a re-pickled batch may have str keys.
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in raw.items()}


def _files(root: str | Path, variant: str, names: Sequence[str]) -> list[Path]:
    folder = _batch_dir(root, variant)
    paths = [folder / name for name in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"read_cifar: no {', '.join(missing)} in {folder}; download {URLS[variant]} and "
            f"unpack it in {Path(root).expanduser()} (it makes {FOLDERS[variant]}/), or pass "
            f"root= the folder that holds {FOLDERS[variant]}"
        )
    return paths


def read_cifar(
    root: str | Path,
    variant: str = "cifar10",
    split: str = "train",
    *,
    labels: str = "fine",
) -> dict[str, Tensor]:
    """One split of CIFAR-10 or CIFAR-100 as a uint8 image tensor and a label tensor.

    Args:
        root: The folder holding ``cifar-10-batches-py/`` (or ``cifar-100-python/``), as
            torchvision's ``root``; or that folder itself.
        variant: ``"cifar10"`` or ``"cifar100"``.
        split: ``"train"`` (50,000 images) or ``"test"`` (10,000).
        labels: For CIFAR-100, ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).

    Returns:
        ``{"image": uint8 (N, 3, 32, 32), "label": int64 (N,)}``, images in the file's order.

    Raises:
        ValueError: An unknown ``variant``, ``split`` or ``labels``, or a batch whose
            ``data`` is not ``(N, 3072)`` uint8 with one label per row.
        FileNotFoundError: A batch file is missing (the message says where to get it).
        pickle.UnpicklingError: A file holds objects other than arrays and lists.

    Examples:
        >>> from spt_data.testing import write_cifar
        >>> folder = write_cifar("data", "cifar10", test_size=6)  # a stand-in of 6 test images
        >>> data = read_cifar("data", "cifar10", "test")
        >>> data["image"].shape, data["image"].dtype, data["label"].tolist()
        (torch.Size([6, 3, 32, 32]), torch.uint8, [0, 1, 2, 3, 4, 5])
    """
    variant = _check_variant(variant)
    if split not in SPLIT_FILES[variant]:
        raise ValueError(f"read_cifar: split must be 'train' or 'test', got {split!r}")
    if labels not in LABELS:
        raise ValueError(f"read_cifar: labels must be 'fine' or 'coarse', got {labels!r}")
    key = "labels" if variant == "cifar10" else LABELS[labels]
    images, targets = [], []
    for path in _files(root, variant, SPLIT_FILES[variant][split]):
        batch = _load(path)
        data = np.asarray(batch.get("data"))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE:
            raise ValueError(
                f"read_cifar: {path} has data {data.dtype} {data.shape}; expected uint8 "
                f"(N, {3 * SIDE * SIDE}), CIFAR's python version"
            )
        if key not in batch or len(batch[key]) != len(data):
            raise ValueError(
                f"read_cifar: {path} needs {key!r} with one label per image ({len(data)}); "
                f"its keys are {sorted(batch)}"
            )
        images.append(data.reshape(-1, 3, SIDE, SIDE))  # channel planes, row-major
        targets.append(np.asarray(batch[key], dtype=np.int64))
    return {
        "image": torch.from_numpy(np.concatenate(images)),
        "label": torch.from_numpy(np.concatenate(targets)),
    }


def cifar_classes(root: str | Path, variant: str = "cifar10") -> list[str]:
    """The class names from ``batches.meta`` (CIFAR-10) or ``meta`` (CIFAR-100, fine labels).

    Raises:
        FileNotFoundError: The meta file is missing.
    """
    variant = _check_variant(variant)
    name, key = META_FILES[variant]
    (path,) = _files(root, variant, [name])
    meta = _load(path)
    if key not in meta:
        raise ValueError(f"cifar_classes: {path} has no {key!r}; its keys are {sorted(meta)}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[key]]


def cifar(
    root: str | Path,
    variant: str = "cifar10",
    split: str = "train",
    transform: Transform | None = None,
    *,
    labels: str = "fine",
    gpu_transform: Any = None,
) -> DictDataset:
    """CIFAR-10/100 from local pickle batches as a dict dataset of uint8 images.

    Args:
        root: Folder holding ``cifar-10-batches-py/`` or ``cifar-100-python/`` (see
            :func:`read_cifar`).
        variant: ``"cifar10"`` or ``"cifar100"``.
        split: ``"train"`` or ``"test"``.
        transform: Callable applied to each sample dict.
        labels: CIFAR-100's ``"fine"`` or ``"coarse"`` labels.
        gpu_transform: Stored on the dataset for ``spt_module``.

    Returns:
        A :class:`~spt_data.DictDataset` of ``{"image": tv_tensors.Image uint8 (3, 32, 32),
        "label": int, "sample_idx": int}``.
    """
    data = read_cifar(root, variant, split, labels=labels)
    columns = {"image": tv_tensors.Image(data["image"]), "label": data["label"].tolist()}
    return DictDataset(columns, transform=transform, gpu_transform=gpu_transform)
