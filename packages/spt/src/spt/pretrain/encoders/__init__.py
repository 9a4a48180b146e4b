"""Registered time-series encoders: ``transformer`` and ``gru``."""

from spt.pretrain.encoders.base import (
    BaseEncoder,
    EncoderConfig,
    MaskTokenEmbedding,
    build_encoder,
    encoder_config,
    masked_mean,
)
from spt.pretrain.encoders.gru import GRUEncoder, GRUEncoderConfig
from spt.pretrain.encoders.transformer import TimeSeriesTransformerEncoder, TransformerEncoderConfig

__all__ = [
    "BaseEncoder",
    "EncoderConfig",
    "GRUEncoder",
    "GRUEncoderConfig",
    "MaskTokenEmbedding",
    "TimeSeriesTransformerEncoder",
    "TransformerEncoderConfig",
    "build_encoder",
    "encoder_config",
    "masked_mean",
]
