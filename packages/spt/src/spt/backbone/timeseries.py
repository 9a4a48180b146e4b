"""A transformer encoder for multichannel time series with padding masks."""

from __future__ import annotations

import torch
from torch import nn


class TimeSeriesTransformer(nn.Module):
    """Per-step (or per-patch) linear embedding, learned positions, a transformer, masked pooling.

    Args:
        n_channels: Input channels ``C``.
        max_length: Longest series ``T`` (positions are learned up to it).
        dim: Token width.
        depth: Transformer blocks.
        heads: Attention heads.
        patch_size: Time steps per token; ``max_length`` must be divisible by it.
        dropout: Dropout inside the blocks.

    Shapes:
        ``forward(x (B, T, C), mask (B, T) bool, True = observed) -> (B, dim)``, the mean of the
        tokens that hold at least one observed step. ``tokens(...)`` returns ``(B, T/patch, dim)``
        and the token mask ``(B, T/patch)``.
    """

    def __init__(
        self,
        n_channels: int,
        max_length: int,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        patch_size: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if max_length % patch_size:
            raise ValueError(
                f"TimeSeriesTransformer: max_length={max_length} is not divisible by "
                f"patch_size={patch_size}"
            )
        self.patch_size = patch_size
        self.embed_dim = dim
        self.embed = nn.Linear(n_channels * patch_size, dim)
        self.pos_embed = nn.Parameter(torch.randn(1, max_length // patch_size, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            4 * dim,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def tokens(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode to tokens: ``(B, T, C) -> (B, T/p, dim)`` and the token mask ``(B, T/p)``."""
        B, T, C = x.shape
        p = self.patch_size
        if T % p or T // p > self.pos_embed.shape[1]:
            raise ValueError(
                f"TimeSeriesTransformer: length {T} must be a multiple of patch_size={p} and at "
                f"most max_length={self.pos_embed.shape[1] * p}"
            )
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=x.device)
        x = x * mask.unsqueeze(-1)
        tokens = self.embed(x.reshape(B, T // p, p * C)) + self.pos_embed[:, : T // p]
        token_mask = mask.reshape(B, T // p, p).any(dim=-1)  # (B, T/p)
        out = self.blocks(tokens, src_key_padding_mask=~token_mask)
        return self.norm(out), token_mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Embed series: ``(B, T, C) -> (B, dim)`` by a mean over observed tokens."""
        tokens, token_mask = self.tokens(x, mask)
        weights = token_mask.unsqueeze(-1).to(tokens.dtype)
        return (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)
