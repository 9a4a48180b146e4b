"""A GRU encoder for multivariate time series."""

from __future__ import annotations

import dataclasses

from torch import Tensor, nn
from typing_extensions import override

from spt.pretrain.encoders.base import BaseEncoder, EncoderConfig, MaskTokenEmbedding
from spt.pretrain.registry import register_encoder


@dataclasses.dataclass
class GRUEncoderConfig(EncoderConfig):
    """Parameters of ``GRUEncoder``.

    Attributes:
        n_layers: stacked GRU layers.
        bidirectional: run both directions (each with ``d_model // 2`` units).
        dropout: dropout between GRU layers.
    """

    name: str = "gru"
    n_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0


@register_encoder("gru", GRUEncoderConfig)
class GRUEncoder(BaseEncoder):
    """GRU (Cho et al., 2014) over time steps; padded steps are zeroed before the recurrence.

    Their values never reach the output, but with right padding the backward direction of a
    bidirectional GRU still runs over the zeros (no packing, which would need the lengths on
    the CPU every step); use ``transformer`` where exact padding invariance matters.

    Args:
        config: a ``GRUEncoderConfig``.

    Raises:
        ValueError: when ``bidirectional`` and ``d_model`` is odd.
    """

    def __init__(self, config: GRUEncoderConfig) -> None:
        super().__init__(config)
        if config.bidirectional and config.d_model % 2:
            raise ValueError(
                f"encoder.d_model={config.d_model} must be even when encoder.bidirectional=true"
            )
        hidden = config.d_model // 2 if config.bidirectional else config.d_model
        self.embed = MaskTokenEmbedding(self.d_input, config.d_model, positions=False)
        self.gru = nn.GRU(
            config.d_model,
            hidden,
            num_layers=config.n_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.n_layers > 1 else 0.0,
        )
        self.norm = nn.LayerNorm(config.d_model)

    @override
    def forward(
        self, x: Tensor, mask: Tensor | None = None, padding_mask: Tensor | None = None
    ) -> Tensor:
        """Encode ``x`` (B, T, C) -> (B, T, d_model)."""
        h = self.embed(x, mask)  # (B, T, d_model)
        if padding_mask is not None:
            h = h.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        out, _ = self.gru(h)
        normed: Tensor = self.norm(out)
        return normed
