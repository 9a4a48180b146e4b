"""scikit-learn's handwritten digits as a dict dataset of small images."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import tv_tensors

from spt_data.datasets import DictDataset, Transform

__all__ = ["digits"]

SPLITS = ("train", "test")
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def _load(size: int, rgb: bool) -> tuple[torch.Tensor, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "digits needs scikit-learn, which ships the data: pip install 'spt-data[examples]'"
        ) from error
    bunch = load_digits()
    # Pixel values are 0..16; scale to 0..255 and upsample as float before rounding.
    images = torch.from_numpy(bunch.images).float().unsqueeze(1) * (255.0 / 16.0)  # (N, 1, 8, 8)
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = images.round().clamp(0, 255).to(torch.uint8)
    if rgb:
        images = images.expand(-1, 3, -1, -1).contiguous()
    return images, bunch.target


def _split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Stratified, seeded 80/20 split of the indices (1,437 train and 360 test images)."""
    classes, counts = np.unique(labels, return_counts=True)
    # ceil(20%) test images in all, shared by class in proportion (largest remainders first).
    quota = counts * TEST_FRACTION
    n_test = np.floor(quota).astype(int)
    missing = math.ceil(len(labels) * TEST_FRACTION) - int(n_test.sum())
    n_test[np.argsort(-(quota - n_test), kind="stable")[:missing]] += 1
    rng = np.random.default_rng(SPLIT_SEED)
    is_test = np.zeros(len(labels), dtype=bool)
    for label, k in zip(classes, n_test, strict=True):
        members = np.flatnonzero(labels == label)
        is_test[rng.permutation(members)[:k]] = True
    return np.flatnonzero(is_test if split == "test" else ~is_test)


def digits(
    split: str = "train",
    size: int = 32,
    rgb: bool = True,
    transform: Transform | None = None,
    *,
    gpu_transform: Any = None,
) -> DictDataset:
    """The 1,797 handwritten digits of scikit-learn as images, with a fixed train/test split.

    The 8x8 images (values 0..16) are scaled to 0..255 ``uint8`` and resized to
    ``size x size`` with bilinear interpolation. The split is stratified by class and seeded,
    the same on every machine: 1,437 training and 360 test images. Needs scikit-learn
    (``pip install spt-data[examples]``), which ships the data: nothing is downloaded.

    Args:
        split: ``"train"`` or ``"test"``.
        size: Side of the square images.
        rgb: Three identical channels (for RGB backbones) instead of one.
        transform: Callable applied to each sample dict.
        gpu_transform: Stored on the dataset for ``spt_module``.

    Returns:
        A :class:`~spt_data.DictDataset` of ``{"image": tv_tensors.Image uint8 (C, size, size),
        "label": int, "sample_idx": int}``.

    Raises:
        ValueError: ``split`` is not ``"train"`` or ``"test"``, or ``size`` is below 1.

    Examples:
        >>> train = digits("train", size=32)
        >>> len(train), tuple(train[0]["image"].shape)
        (1437, (3, 32, 32))
    """
    if split not in SPLITS:
        raise ValueError(f"digits: split must be one of {list(SPLITS)}, got {split!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"digits: size must be a positive int, got {size!r}")
    images, labels = _load(size, rgb)
    keep = _split_indices(labels, split)
    data = {
        "image": tv_tensors.Image(images[torch.from_numpy(keep)]),
        "label": [int(y) for y in labels[keep]],
    }
    return DictDataset(data, transform=transform, gpu_transform=gpu_transform)
