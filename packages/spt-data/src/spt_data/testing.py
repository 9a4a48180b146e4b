"""Small local stand-ins of datasets in their on-disk formats, for tests and dry runs.

Each writer produces files a reader of the real dataset opens unchanged: CIFAR's python
pickle batches (:func:`write_cifar`) and an ImageNet-style tree of class folders
(:func:`write_image_folder`). Pixels are seeded random values; labels cycle over the classes.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spt_data.cifar import FOLDERS, META_FILES, SPLIT_FILES

__all__ = ["write_cifar", "write_image_folder"]


def _cifar_batch(
    variant: str, n: int, num_classes: int, rng: np.random.Generator, name: str
) -> dict[bytes, object]:
    labels = [i % num_classes for i in range(n)]
    batch: dict[bytes, object] = {
        b"batch_label": name.encode(),
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        b"filenames": [f"stand_in_{i}.png".encode() for i in range(n)],
    }
    if variant == "cifar10":
        batch[b"labels"] = labels
    else:
        batch[b"fine_labels"] = labels
        batch[b"coarse_labels"] = [y % 20 for y in labels]
    return batch


def write_cifar(
    root: str | Path,
    variant: str = "cifar10",
    *,
    per_batch: int = 8,
    test_size: int = 8,
    seed: int = 0,
) -> Path:
    """Write a CIFAR-10 or CIFAR-100 stand-in under ``root`` in the python-version layout.

    Keys and strings are bytes, as in the original Python 2 pickles read with
    ``encoding="bytes"``.

    Args:
        root: Folder that receives ``cifar-10-batches-py/`` or ``cifar-100-python/``.
        variant: ``"cifar10"`` or ``"cifar100"``.
        per_batch: Images in each training file (CIFAR-10 has five; CIFAR-100 one).
        test_size: Images in the test file.
        seed: Seed of the pixel values.

    Returns:
        The folder of the batch files.
    """
    if variant not in FOLDERS:
        raise ValueError(f"write_cifar: variant must be one of {sorted(FOLDERS)}, got {variant!r}")
    num_classes = 10 if variant == "cifar10" else 100
    folder = Path(root) / FOLDERS[variant]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = dict.fromkeys(SPLIT_FILES[variant]["train"], per_batch)
    files.update(dict.fromkeys(SPLIT_FILES[variant]["test"], test_size))
    for name, n in files.items():
        with (folder / name).open("wb") as handle:
            pickle.dump(_cifar_batch(variant, n, num_classes, rng, name), handle, protocol=2)
    meta_name, key = META_FILES[variant]
    meta: dict[bytes, object] = {key.encode(): [f"class_{i}".encode() for i in range(num_classes)]}
    if variant == "cifar100":
        meta[b"coarse_label_names"] = [f"super_{i}".encode() for i in range(20)]
    with (folder / meta_name).open("wb") as handle:
        pickle.dump(meta, handle, protocol=2)
    return folder


def write_image_folder(
    root: str | Path,
    classes: Sequence[str] = ("n01440764", "n01443537"),
    *,
    per_class: int = 3,
    size: tuple[int, int] = (40, 48),
    formats: Sequence[str] = ("JPEG", "png"),
    seed: int = 0,
) -> Path:
    """Write ``root/<class>/<i>.<ext>`` images of one ``size`` (height, width), cycling formats.

    Returns:
        ``root``.
    """
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            fmt = formats[i % len(formats)]
            pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
            ending = "JPEG" if fmt.upper() == "JPEG" else fmt.lower()
            Image.fromarray(pixels).save(root / name / f"{name}_{i}.{ending}", format=fmt.upper())
    return root
