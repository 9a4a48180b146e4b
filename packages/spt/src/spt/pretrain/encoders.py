"""The built-in encoders ``transformer`` and ``gru``: ``spt.backbone`` classes under config names.

Each builder maps the names of the ``encoder`` section (``d_input``, ``d_model``, ...) to the
arguments of an :mod:`spt.backbone` class, with a mask token for masked objectives.
"""

from __future__ import annotations

from typing import Any, Protocol

from torch import Tensor, nn

from spt.backbone.gru import TimeSeriesGRU
from spt.backbone.timeseries import TimeSeriesTransformer
from spt.pretrain._config import to_plain
from spt.pretrain.registry import ENCODERS, register_encoder

__all__ = ["TimeSeriesEncoder", "build_encoder", "gru_encoder", "transformer_encoder"]


class TimeSeriesEncoder(Protocol):
    """What the objectives need of an encoder (an ``nn.Module``), as the backbones have it.

    Attributes:
        n_channels: channels ``C`` of the series it takes.
        embed_dim: width ``D`` of its tokens.
    """

    n_channels: int
    embed_dim: int

    def tokens(
        self, x: Tensor, mask: Tensor | None = None, hidden: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(B, T, C)`` series, observed mask, hidden steps -> ``(B, T, D)`` and token mask."""
        ...


def _channels(d_input: int | None) -> int:
    if d_input is None or int(d_input) < 1:
        raise ValueError(
            f"encoder.d_input={d_input!r}: set it to the number of channels C of the "
            f"(B, T, C) series, e.g. encoder.d_input=4"
        )
    return int(d_input)


@register_encoder("transformer")
def transformer_encoder(
    d_input: int | None = None,
    d_model: int = 64,
    n_heads: int = 4,
    n_layers: int = 2,
    d_ff: int = 128,
    dropout: float = 0.1,
) -> TimeSeriesTransformer:
    """Pre-norm transformer over time steps with sinusoidal positions (any length).

    Args:
        d_input: channels ``C`` of the series.
        d_model: token width.
        n_heads: attention heads (must divide ``d_model``).
        n_layers: transformer blocks.
        d_ff: hidden width of each block's MLP.
        dropout: dropout in attention and MLP.
    """
    channels = _channels(d_input)
    if d_model % n_heads:
        raise ValueError(f"encoder.n_heads={n_heads} must divide encoder.d_model={d_model}")
    return TimeSeriesTransformer(
        channels,
        dim=d_model,
        depth=n_layers,
        heads=n_heads,
        dropout=dropout,
        mlp_dim=d_ff,
        activation="relu",
        positions="sinusoidal",
        mask_token=True,
    )


@register_encoder("gru")
def gru_encoder(
    d_input: int | None = None,
    d_model: int = 64,
    n_layers: int = 1,
    bidirectional: bool = True,
    dropout: float = 0.0,
) -> TimeSeriesGRU:
    """(Bidirectional) GRU over time steps.

    Args:
        d_input: channels ``C`` of the series.
        d_model: output width (``d_model // 2`` units per direction when bidirectional).
        n_layers: stacked GRU layers.
        bidirectional: run both directions.
        dropout: dropout between GRU layers.
    """
    return TimeSeriesGRU(
        _channels(d_input),
        dim=d_model,
        depth=n_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        mask_token=True,
    )


def build_encoder(config: Any) -> nn.Module:
    """Build the registered encoder that the ``encoder`` section's ``name`` selects.

    Args:
        config: the ``encoder`` section: a mapping, a dataclass or an OmegaConf node.

    Returns:
        A freshly initialised encoder.

    Raises:
        ValueError: unknown name (lists the registered ones) or a parameter the encoder does
            not accept (names it and the accepted ones).

    Examples:
        >>> import torch
        >>> encoder = build_encoder({"name": "gru", "d_input": 3, "d_model": 16})
        >>> encoder(torch.randn(2, 10, 3)).shape
        torch.Size([2, 16])
    """
    encoder: nn.Module = ENCODERS.build(to_plain(config))
    return encoder
