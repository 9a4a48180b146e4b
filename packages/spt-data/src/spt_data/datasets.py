"""Datasets whose samples are dicts that carry their own index as ``sample_idx``.

``FromTorchDataset`` names the fields of a tuple dataset (torchvision's ``(image, label)``),
``DictDataset`` serves rows of in-memory tensors or arrays. Both add ``sample_idx`` (the
sample's index in the dataset, an ``int``) before the transform runs, so every view that a
:class:`~spt_data.transforms.MultiViewTransform` makes keeps it; ``fold_views`` and the
callbacks rely on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

__all__ = ["DictDataset", "FromTorchDataset", "SampleDataset"]

SAMPLE_IDX = "sample_idx"
Transform = Callable[[dict[str, Any]], Any]


class SampleDataset(Dataset[Any]):
    """Base of the dict datasets: adds ``sample_idx``, runs ``transform``, holds ``gpu_transform``.

    Subclasses implement ``__len__`` and ``_read(index) -> dict``.

    Args:
        transform: Callable applied to each sample dict (after ``sample_idx`` is added); may
            return a dict or, for multi-view transforms, a list of dicts.
        gpu_transform: Batched transform for the device, such as a
            :class:`spt_data.gpu.MultiViewGPUTransform`; only stored here. ``spt_module.Module``
            applies it after the batch reaches the device, before any transform of the
            DataModule (a dataset belongs to one stage, so this is one callable, not a dict).

    Raises:
        TypeError: ``transform`` or ``gpu_transform`` is given and not callable.
    """

    def __init__(self, transform: Transform | None = None, gpu_transform: Any = None) -> None:
        if transform is not None and not callable(transform):
            raise TypeError(
                f"{type(self).__name__}: transform must be a callable taking a sample dict, "
                f"got {type(transform).__name__}; build one with spt_data.transforms.Compose(...)"
            )
        if gpu_transform is not None and not callable(gpu_transform):
            raise TypeError(
                f"{type(self).__name__}: gpu_transform must be a callable taking a batch dict, "
                f"got {type(gpu_transform).__name__}; build one with spt_data.gpu.GPUCompose(...)"
            )
        self.transform = transform
        self.gpu_transform = gpu_transform

    def _read(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        sample = self._read(index)
        sample[SAMPLE_IDX] = int(index)
        if self.transform is None:
            return sample
        return self.transform(sample)


def _check_names(names: Sequence[str]) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) == 0:
        raise ValueError(
            f"FromTorchDataset: names must be a non-empty list of field names such as "
            f"['image', 'label'], got {names!r}"
        )
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise TypeError(f"FromTorchDataset: names must be strings, got {bad!r} in {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"FromTorchDataset: names must be unique, got {list(names)!r}")
    if SAMPLE_IDX in names:
        raise ValueError(
            f"FromTorchDataset: '{SAMPLE_IDX}' is added by the dataset itself; "
            f"remove it from names={list(names)!r}"
        )
    return list(names)


class FromTorchDataset(SampleDataset):
    """Wrap a dataset of tuples (such as a torchvision dataset) so that samples are dicts.

    Args:
        dataset: Any map-style dataset whose items are tuples (or lists), such as
            ``torchvision.datasets.CIFAR10``; an item that is not a tuple counts as one field.
        names: One key per tuple field, e.g. ``["image", "label"]``.
        transform: Callable applied to the sample dict.
        gpu_transform: Stored for ``spt_module`` (see :class:`SampleDataset`).

    Raises:
        ValueError: ``names`` is empty, has duplicates or contains ``"sample_idx"``; or (when a
            sample is read) the number of fields differs from ``len(names)``.

    Examples:
        >>> pairs = [(torch.zeros(3), 0), (torch.ones(3), 1)]
        >>> ds = FromTorchDataset(pairs, names=["x", "label"])
        >>> ds[1]["label"], ds[1]["sample_idx"]
        (1, 1)
    """

    def __init__(
        self,
        dataset: Any,
        names: Sequence[str],
        transform: Transform | None = None,
        *,
        gpu_transform: Any = None,
    ) -> None:
        super().__init__(transform, gpu_transform)
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(
                f"FromTorchDataset: dataset must be a map-style dataset with __getitem__ and "
                f"__len__, got {type(dataset).__name__}"
            )
        self.dataset = dataset
        self.names = _check_names(names)

    def __len__(self) -> int:
        return len(self.dataset)

    def _read(self, index: int) -> dict[str, Any]:
        item = self.dataset[index]
        fields = item if isinstance(item, (tuple, list)) else (item,)
        if len(fields) != len(self.names):
            raise ValueError(
                f"FromTorchDataset: names has {len(self.names)} entries {self.names!r} but the "
                f"sample at index {index} has {len(fields)} fields; pass one name per field"
            )
        return dict(zip(self.names, fields, strict=True))

    def __repr__(self) -> str:
        return (
            f"FromTorchDataset({type(self.dataset).__name__}, names={self.names!r}, n={len(self)})"
        )


def _as_column(key: str, value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            raise ValueError(
                f"DictDataset: data[{key!r}] is a 0-d tensor; give one value per sample"
            )
        return value
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            raise ValueError(
                f"DictDataset: data[{key!r}] is a 0-d array; give one value per sample"
            )
        if value.dtype.kind in "biuf" and value.ndim > 1:
            return torch.from_numpy(np.ascontiguousarray(value))
        # A 1-d numeric array or an object/string array: serve Python scalars per row.
        return value.tolist()
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return value
    raise TypeError(
        f"DictDataset: data[{key!r}] must be a tensor, a numpy array or a sequence with one "
        f"entry per sample, got {type(value).__name__}"
    )


class DictDataset(SampleDataset):
    """A dataset over in-memory columns: sample ``i`` is ``{key: data[key][i], ...}``.

    Tensors are indexed along their first dimension; a column that is a
    ``torchvision.tv_tensors`` ``Image``, ``Video`` or ``Mask`` gives rows of the same type, so
    ``torchvision.transforms.v2`` treats them as images. Numeric numpy arrays with more than one
    dimension become tensors; 1-d arrays and sequences give Python values (``int`` labels).

    Args:
        data: Mapping from key to a column (tensor, array or sequence), all of the same length.
        transform: Callable applied to the sample dict.
        gpu_transform: Stored for ``spt_module`` (see :class:`SampleDataset`).

    Raises:
        ValueError: ``data`` is empty, columns differ in length, or a key is ``"sample_idx"``.
        TypeError: a column is not a tensor, array or sequence.

    Examples:
        >>> ds = DictDataset({"x": torch.randn(4, 2), "label": [0, 1, 0, 1]})
        >>> sorted(ds[2]), ds[2]["label"]
        (['label', 'sample_idx', 'x'], 0)
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        transform: Transform | None = None,
        *,
        gpu_transform: Any = None,
    ) -> None:
        super().__init__(transform, gpu_transform)
        if not isinstance(data, Mapping) or len(data) == 0:
            raise ValueError(
                f"DictDataset: data must be a non-empty mapping of key -> column, got {data!r:.80}"
            )
        if SAMPLE_IDX in data:
            raise ValueError(
                f"DictDataset: '{SAMPLE_IDX}' is added by the dataset itself; remove it from data"
            )
        self.columns = {str(k): _as_column(str(k), v) for k, v in data.items()}
        lengths = {k: len(v) for k, v in self.columns.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"DictDataset: all columns must have the same length, got {lengths}")
        self._length = next(iter(lengths.values()))
        self._wrap = {
            k: type(v)
            for k, v in self.columns.items()
            if isinstance(v, (tv_tensors.Image, tv_tensors.Video, tv_tensors.Mask))
        }

    def __len__(self) -> int:
        return self._length

    def _read(self, index: int) -> dict[str, Any]:
        if not -self._length <= index < self._length:
            raise IndexError(f"DictDataset: index {index} out of range for {self._length} samples")
        sample = {k: v[index] for k, v in self.columns.items()}
        for key, kind in self._wrap.items():
            sample[key] = kind(sample[key])
        return sample

    def __repr__(self) -> str:
        return f"DictDataset(keys={list(self.columns)}, n={len(self)})"
