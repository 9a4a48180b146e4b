"""A folder of images, one sub-folder per class (ImageNet's layout), as a dict dataset.

``root/n01440764/xxx.JPEG`` ... : every class is a sub-folder, its images are the files in it
with an image extension. ImageNet-100 (the 100-class subset of Tian, Krishnan and Isola 2020,
"Contrastive Multiview Coding") is usually stored so, with ``train/`` and ``val/`` beside each
other; ``classes=`` picks the subset out of a full ImageNet tree instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spt_data.datasets import SampleDataset, Transform

__all__ = ["ImageFolder"]

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _class_folders(root: Path, classes: Sequence[str] | None) -> list[str]:
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        if not found:
            raise FileNotFoundError(
                f"ImageFolder: {root} has no class sub-folders; lay the images out as "
                "root/<class>/<image>.jpg"
            )
        return found
    if isinstance(classes, str):
        raise TypeError(f"ImageFolder: classes must be a list of folder names, got {classes!r}")
    wanted = [str(c) for c in classes]
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise FileNotFoundError(
            f"ImageFolder: {len(missing)} class folder(s) of classes= are not in {root}: "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}"
        )
    if len(set(wanted)) != len(wanted):
        raise ValueError("ImageFolder: classes has duplicates")
    return wanted


class ImageFolder(SampleDataset):
    """Images under ``root/<class>/``, decoded with Pillow to RGB, with integer labels.

    Labels are positions in :attr:`classes`: the sorted sub-folder names, or the order of
    ``classes=`` when given. Files are listed once, sorted, at construction; decoding happens
    per sample (in DataLoader workers).

    Args:
        root: The folder of class folders (``imagenet100/train``).
        transform: Callable applied to each sample dict (its ``image`` is a ``PIL.Image``).
        classes: Only these class folders, labelled in this order (a subset of ImageNet).
        extensions: File endings counted as images (case-insensitive).
        gpu_transform: Stored on the dataset for ``spt_module``.

    Raises:
        FileNotFoundError: ``root`` is not a folder, has no class folders, lacks one of
            ``classes``, or holds no image.

    Examples:
        >>> from spt_data.testing import write_image_folder
        >>> root = write_image_folder("train", ["n01440764", "n01443537"], per_class=2)
        >>> train = ImageFolder("train")
        >>> len(train), train.classes[1], train[2]["label"], train[2]["image"].mode
        (4, 'n01443537', 1, 'RGB')
    """

    def __init__(
        self,
        root: str | Path,
        transform: Transform | None = None,
        *,
        classes: Sequence[str] | None = None,
        extensions: Sequence[str] = EXTENSIONS,
        gpu_transform: Any = None,
    ) -> None:
        super().__init__(transform, gpu_transform)
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"ImageFolder: root={str(root)!r} is not a folder; pass the folder that holds "
                "one sub-folder per class"
            )
        self.classes = _class_folders(self.root, classes)
        endings = tuple(e.lower() for e in extensions)
        self.samples: list[tuple[Path, int]] = []
        for label, name in enumerate(self.classes):
            files = sorted(p for p in (self.root / name).iterdir() if p.is_file())
            self.samples.extend((p, label) for p in files if p.suffix.lower() in endings)
        if not self.samples:
            raise FileNotFoundError(
                f"ImageFolder: no file ending in {', '.join(endings)} under the class folders "
                f"of {self.root}"
            )

    def __len__(self) -> int:
        return len(self.samples)

    def _read(self, index: int) -> dict[str, Any]:
        from PIL import Image

        path, label = self.samples[index]
        with Image.open(path) as image:
            rgb = image.convert("RGB")  # also forces the decode before the file closes
        return {"image": rgb, "label": label}

    def __repr__(self) -> str:
        return f"ImageFolder({str(self.root)!r}, classes={len(self.classes)}, n={len(self)})"
