"""Backbones and projectors: torchvision ResNets, small ViTs, a small CNN, a time-series encoder."""

from spt.backbone.cnn import SmallCNN
from spt.backbone.mlp import MLP
from spt.backbone.timeseries import TimeSeriesTransformer
from spt.backbone.torchvision import from_torchvision
from spt.backbone.vit import MAEDecoder, VisionTransformer, patchify, vit_base, vit_small, vit_tiny

__all__ = [
    "MAEDecoder",
    "MLP",
    "SmallCNN",
    "TimeSeriesTransformer",
    "VisionTransformer",
    "from_torchvision",
    "patchify",
    "vit_base",
    "vit_small",
    "vit_tiny",
]
