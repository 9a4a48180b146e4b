"""Backbones and projectors: torchvision ResNets, small ViTs, a small CNN, time-series encoders.

``TeacherStudentWrapper`` is :class:`spt.ema.TeacherStudent` (a network and its EMA
teacher) under the name code ported from stable-pretraining uses; it is imported on first
access, so ``import spt.backbone`` stays free of Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spt.backbone.cnn import SmallCNN
from spt.backbone.gru import TimeSeriesGRU
from spt.backbone.mlp import MLP
from spt.backbone.timeseries import TimeSeriesTransformer
from spt.backbone.torchvision import from_torchvision
from spt.backbone.vit import MAEDecoder, VisionTransformer, patchify, vit_base, vit_small, vit_tiny

if TYPE_CHECKING:
    from spt.ema import TeacherStudent as TeacherStudentWrapper

__all__ = [
    "MAEDecoder",
    "MLP",
    "SmallCNN",
    "TeacherStudentWrapper",
    "TimeSeriesGRU",
    "TimeSeriesTransformer",
    "VisionTransformer",
    "from_torchvision",
    "patchify",
    "vit_base",
    "vit_small",
    "vit_tiny",
]


def __getattr__(name: str) -> Any:
    if name == "TeacherStudentWrapper":
        value = importlib.import_module("spt.ema").TeacherStudent
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spt.backbone' has no attribute {name!r}")
