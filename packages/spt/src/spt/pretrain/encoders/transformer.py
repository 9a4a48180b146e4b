"""A transformer encoder for multivariate time series with padding masks."""

from __future__ import annotations

import dataclasses

from torch import Tensor, nn
from typing_extensions import override

from spt.pretrain.encoders.base import BaseEncoder, EncoderConfig, MaskTokenEmbedding
from spt.pretrain.registry import register_encoder


@dataclasses.dataclass
class TransformerEncoderConfig(EncoderConfig):
    """Parameters of ``TimeSeriesTransformerEncoder``.

    Attributes:
        n_heads: attention heads (must divide ``d_model``).
        n_layers: transformer blocks.
        d_ff: hidden width of each block's MLP.
        dropout: dropout in attention and MLP.
    """

    name: str = "transformer"
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1


@register_encoder("transformer", TransformerEncoderConfig)
class TimeSeriesTransformerEncoder(BaseEncoder):
    """Pre-norm transformer over time steps (Vaswani et al., 2017) with sinusoidal positions.

    Each step's ``C`` channels are projected to ``d_model``; hidden steps get a learned mask
    token; padded steps are excluded from attention through ``src_key_padding_mask``.

    Args:
        config: a ``TransformerEncoderConfig``.

    Raises:
        ValueError: when ``n_heads`` does not divide ``d_model``.
    """

    def __init__(self, config: TransformerEncoderConfig) -> None:
        super().__init__(config)
        if config.d_model % config.n_heads:
            raise ValueError(
                f"encoder.n_heads={config.n_heads} must divide encoder.d_model={config.d_model}"
            )
        self.embed = MaskTokenEmbedding(self.d_input, config.d_model, positions=True)
        layer = nn.TransformerEncoderLayer(
            d_model=config.d_model,
            nhead=config.n_heads,
            dim_feedforward=config.d_ff,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(
            layer, num_layers=config.n_layers, enable_nested_tensor=False
        )
        self.norm = nn.LayerNorm(config.d_model)

    @override
    def forward(
        self, x: Tensor, mask: Tensor | None = None, padding_mask: Tensor | None = None
    ) -> Tensor:
        """Encode ``x`` (B, T, C) -> (B, T, d_model); padded steps are not attended to."""
        h = self.embed(x, mask)  # (B, T, d_model)
        if padding_mask is not None:
            # A row with every step padded would make attention NaN; let such rows attend to all.
            padding_mask = padding_mask & ~padding_mask.all(dim=1, keepdim=True)
        h = self.blocks(h, src_key_padding_mask=padding_mask)
        out: Tensor = self.norm(h)
        return out
