"""Backbones and projectors: torchvision and timm models, ViTs, a small CNN, time-series encoders.

``TeacherStudentWrapper`` is :class:`spt.ema.TeacherStudent` (a network and its EMA
teacher) under the name code ported from stable-pretraining uses; it is imported on first
access, so ``import spt.backbone`` stays free of Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spt.backbone.cnn import SmallCNN
from spt.backbone.gru import TimeSeriesGRU
from spt.backbone.mae_decoder import MAEDecoder
from spt.backbone.mlp import MLP
from spt.backbone.pos_embed import interpolate_pos_embed, sincos_pos_embed_2d
from spt.backbone.predictor import IJEPAPredictor
from spt.backbone.text import ByteTokenizer, TextTransformer
from spt.backbone.timeseries import TimeSeriesTransformer
from spt.backbone.timm import TimmBackbone, from_timm
from spt.backbone.torchvision import from_torchvision
from spt.backbone.vit import (
    VisionTransformer,
    ViTOutput,
    patchify,
    unpatchify,
    vit_base,
    vit_small,
    vit_tiny,
)

if TYPE_CHECKING:
    from spt.ema import TeacherStudent as TeacherStudentWrapper

__all__ = [
    "ByteTokenizer",
    "IJEPAPredictor",
    "MAEDecoder",
    "MLP",
    "SmallCNN",
    "TeacherStudentWrapper",
    "TextTransformer",
    "TimeSeriesGRU",
    "TimeSeriesTransformer",
    "TimmBackbone",
    "ViTOutput",
    "VisionTransformer",
    "from_timm",
    "from_torchvision",
    "interpolate_pos_embed",
    "patchify",
    "sincos_pos_embed_2d",
    "unpatchify",
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
