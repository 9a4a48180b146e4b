"""Read a dict dataset once and stack each key into one tensor (for device-resident data)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["SAMPLE_IDX", "stack_samples"]

SAMPLE_IDX = "sample_idx"
_OWNER = "DeviceLoader.from_dataset"


def stack_samples(dataset: Any, keys: Sequence[str] | None = None) -> dict[str, Tensor]:
    """``{key: torch.stack([dataset[i][key] for i in range(len(dataset))])}`` with clear errors.

    Args:
        dataset: A map-style dataset of dict samples.
        keys: The keys to keep; default every key of the first sample but ``"sample_idx"``.

    Returns:
        One tensor ``(N, ...)`` per key; PIL images become uint8 ``(C, H, W)`` rows, numbers
        and numpy values tensors.

    Raises:
        TypeError: A sample is not a dict, or a value cannot become a tensor.
        KeyError: A key of ``keys`` is missing from a sample.
        ValueError: The dataset is empty, or a key's values differ in shape.
    """
    n = len(dataset)
    if n == 0:
        raise ValueError(f"{_OWNER}: the dataset is empty")
    first = _sample(dataset, 0)
    names = [k for k in first if k != SAMPLE_IDX] if keys is None else list(keys)
    columns: dict[str, list[Tensor]] = {key: [] for key in names}
    for index in range(n):
        sample = first if index == 0 else _sample(dataset, index)
        for key in names:
            if key not in sample:
                raise KeyError(
                    f"{_OWNER}: sample {index} has no {key!r} (keys: {sorted(sample)}); pass "
                    "keys= the entries every sample has"
                )
            columns[key].append(_as_tensor(sample[key], key, index))
    return {key: _stack(key, values) for key, values in columns.items()}


def _sample(dataset: Any, index: int) -> Mapping[str, Any]:
    sample = dataset[index]
    if not isinstance(sample, Mapping):
        raise TypeError(
            f"{_OWNER}: sample {index} is a {type(sample).__name__}, not a "
            "dict; wrap the dataset with spt_data.FromTorchDataset(dataset, names=[...])"
        )
    return sample


def _as_tensor(value: Any, key: str, index: int) -> Tensor:
    if isinstance(value, Tensor):
        return value.as_subclass(Tensor)
    if isinstance(value, (bool, int, float)):
        return torch.as_tensor(value)
    if isinstance(value, (np.generic, np.ndarray)):
        return torch.from_numpy(np.array(value))
    if hasattr(value, "getbands"):  # a PIL image
        from torchvision.transforms.v2.functional import pil_to_tensor

        image: Tensor = pil_to_tensor(value)
        return image
    raise TypeError(
        f"{_OWNER}: sample {index}[{key!r}] is a {type(value).__name__}; "
        "only tensors, numbers, numpy arrays and PIL images can be stacked (leave this key "
        "out with keys=[...])"
    )


def _stack(key: str, values: list[Tensor]) -> Tensor:
    shapes = {tuple(v.shape) for v in values}
    if len(shapes) > 1:
        raise ValueError(
            f"{_OWNER}: {key!r} has samples of different shapes "
            f"{sorted(shapes)[:4]}; resize them to one shape in the dataset's transform"
        )
    return torch.stack(values)
