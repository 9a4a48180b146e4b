"""A GRU encoder for multichannel time series with padding masks."""

from __future__ import annotations

import torch
from torch import nn

from spt.backbone.timeseries import hide_tokens, mask_token_parameter, masked_mean

__all__ = ["TimeSeriesGRU"]


class TimeSeriesGRU(nn.Module):
    """Per-step linear embedding, a (bidirectional) GRU (Cho et al., 2014), masked pooling.

    Padded steps are zeroed before the recurrence: their values never reach the output, but
    with right padding the backward direction still runs over the zeros (no packing, which
    would need the lengths on the CPU every step); use :class:`TimeSeriesTransformer` where
    exact padding invariance matters.

    Args:
        n_channels: Input channels ``C``.
        dim: Output width (each direction has ``dim // 2`` units when bidirectional).
        depth: Stacked GRU layers.
        bidirectional: Run both directions.
        dropout: Dropout between GRU layers.
        mask_token: Learn a token that replaces hidden steps (``tokens(..., hidden=...)``).

    Shapes:
        ``forward(x (B, T, C), mask (B, T) bool, True = observed) -> (B, dim)``;
        ``tokens(x, mask, hidden)`` returns ``(B, T, dim)`` and the observed mask ``(B, T)``.

    Raises:
        ValueError: When ``bidirectional`` and ``dim`` is odd.

    Examples:
        >>> TimeSeriesGRU(3, dim=8)(torch.randn(2, 5, 3)).shape
        torch.Size([2, 8])
    """

    def __init__(
        self,
        n_channels: int,
        dim: int = 64,
        depth: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        mask_token: bool = False,
    ) -> None:
        super().__init__()
        if bidirectional and dim % 2:
            raise ValueError(f"TimeSeriesGRU: dim={dim} must be even when bidirectional=True")
        self.n_channels = n_channels
        self.embed_dim = dim
        self.embed = nn.Linear(n_channels, dim)
        self.mask_token = mask_token_parameter(dim, mask_token)
        self.gru = nn.GRU(
            dim,
            dim // 2 if bidirectional else dim,
            num_layers=depth,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if depth > 1 else 0.0,
        )
        self.norm = nn.LayerNorm(dim)

    def tokens(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode each step: ``(B, T, C) -> (B, T, dim)`` and the observed mask ``(B, T)``.

        Args:
            x: ``(B, T, C)`` series.
            mask: ``(B, T)`` bool, True where a step is observed (None: all observed).
            hidden: ``(B, T)`` bool, True where the step's embedding is replaced by the mask
                token (needs ``mask_token=True``).
        """
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        h = hide_tokens(self.embed(x), hidden, self.mask_token, "TimeSeriesGRU")  # (B, T, dim)
        h = h.masked_fill(~mask.unsqueeze(-1), 0.0)
        out, _ = self.gru(h)
        return self.norm(out), mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Embed series: ``(B, T, C) -> (B, dim)`` by a mean over observed steps."""
        tokens, observed = self.tokens(x, mask)
        return masked_mean(tokens, observed)
