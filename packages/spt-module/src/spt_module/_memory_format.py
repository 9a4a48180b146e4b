"""Channels-last memory format for convolutional backbones: parameters and image batches.

Convolutions on tensor cores run fastest on NHWC ("channels last") tensors. Parameters are
converted once (4-D weights only: ``nn.Module.to(memory_format=...)`` leaves other tensors
alone); image batches (4-D floating tensors) are converted after the GPU transform, which
costs nothing when the transform already wrote them channels-last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["ask_transform_for_channels_last", "channels_last_batch", "to_channels_last"]


def to_channels_last(module: nn.Module) -> None:
    """Convert the 4-D parameters and buffers of ``module`` to channels-last, in place."""
    module.to(memory_format=torch.channels_last)


def _convert(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.ndim == 4 and value.is_floating_point():
        return value.contiguous(memory_format=torch.channels_last)  # no copy when already
    return value


def channels_last_batch(batch: Any) -> Any:
    """The batch (a dict or a list of view dicts) with its 4-D floating tensors channels-last."""
    if isinstance(batch, Mapping):
        return {key: _convert(value) for key, value in batch.items()}
    if isinstance(batch, list):
        return [channels_last_batch(view) for view in batch]
    return _convert(batch)


def ask_transform_for_channels_last(transform: Any) -> None:
    """Let an ``spt_data.gpu`` transform write its images channels-last (no extra copy).

    Transforms that have a ``memory_format`` attribute left at None (``GPUCompose``,
    ``MultiViewGPUTransform``, ``MultiCropGPUTransform``) get ``torch.channels_last``; any
    other callable is left alone and its output is converted after it.
    """
    if getattr(transform, "memory_format", False) is None:
        transform.memory_format = torch.channels_last
