"""A transformer encoder for multichannel time series with padding masks."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "TimeSeriesTransformer",
    "hide_tokens",
    "mask_token_parameter",
    "masked_mean",
    "sinusoidal_positions",
]

_POSITIONS = ("learned", "sinusoidal")


def sinusoidal_positions(
    length: int, dim: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Fixed sine/cosine position encodings of Vaswani et al. (2017), shape ``(length, dim)``.

    Examples:
        >>> sinusoidal_positions(4, 6).shape
        torch.Size([4, 6])
    """
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )
    pe = torch.zeros(length, dim, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div[: dim // 2])
    return pe.to(dtype)


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``tokens`` (B, T, D) over the steps where ``mask`` (B, T) is True -> (B, D).

    Examples:
        >>> masked_mean(torch.ones(2, 3, 4), torch.tensor([[True] * 3, [False] * 3])).sum(1)
        tensor([4., 0.])
    """
    if mask is None:
        return tokens.mean(dim=1)
    weights = mask.to(tokens.dtype).unsqueeze(-1)  # (B, T, 1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def mask_token_parameter(dim: int, enabled: bool) -> nn.Parameter | None:
    """A learned ``(dim,)`` token for hidden steps (normal, std 0.02), or None when disabled."""
    if not enabled:
        return None
    token = nn.Parameter(torch.zeros(dim))
    nn.init.normal_(token, std=0.02)
    return token


def hide_tokens(
    tokens: torch.Tensor, hidden: torch.Tensor | None, mask_token: torch.Tensor | None, owner: str
) -> torch.Tensor:
    """``tokens`` (B, N, D) with ``mask_token`` where ``hidden`` (B, N) is True.

    Raises:
        ValueError: When steps are hidden and there is no mask token.
    """
    if hidden is None:
        return tokens
    if mask_token is None:
        raise ValueError(f"{owner}: hidden steps need a mask token; build it with mask_token=True")
    return torch.where(hidden.unsqueeze(-1), mask_token.to(tokens.dtype), tokens)


class TimeSeriesTransformer(nn.Module):
    """Per-step (or per-patch) linear embedding, positions, a pre-norm transformer, masked pooling.

    Args:
        n_channels: Input channels ``C``.
        max_length: Longest series ``T`` (learned positions exist up to it); may be None with
            ``positions="sinusoidal"``.
        dim: Token width.
        depth: Transformer blocks.
        heads: Attention heads.
        patch_size: Time steps per token; ``max_length`` must be divisible by it.
        dropout: Dropout inside the blocks.
        mlp_dim: Hidden width of each block's MLP (None: ``4 * dim``).
        activation: ``"gelu"`` or ``"relu"`` in the blocks' MLP.
        positions: ``"learned"`` (a parameter per position) or ``"sinusoidal"`` (fixed).
        mask_token: Learn a token that replaces hidden tokens (``tokens(..., hidden=...)``),
            for masked-prediction objectives.

    Shapes:
        ``forward(x (B, T, C), mask (B, T) bool, True = observed) -> (B, dim)``, the mean of the
        tokens that hold at least one observed step. ``tokens(x, mask, hidden)`` returns
        ``(B, T/patch, dim)`` and the token mask ``(B, T/patch)``; ``hidden`` (B, T/patch) bool
        puts the mask token in place of those tokens' embeddings.
    """

    def __init__(
        self,
        n_channels: int,
        max_length: int | None = None,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        patch_size: int = 1,
        dropout: float = 0.0,
        mlp_dim: int | None = None,
        activation: str = "gelu",
        positions: str = "learned",
        mask_token: bool = False,
    ) -> None:
        super().__init__()
        if positions not in _POSITIONS:
            raise ValueError(
                f"TimeSeriesTransformer: positions={positions!r}; use 'learned' or 'sinusoidal'"
            )
        if max_length is None and positions == "learned":
            raise ValueError(
                "TimeSeriesTransformer: learned positions need max_length; pass max_length=T "
                "or positions='sinusoidal'"
            )
        if max_length is not None and max_length % patch_size:
            raise ValueError(
                f"TimeSeriesTransformer: max_length={max_length} is not divisible by "
                f"patch_size={patch_size}"
            )
        self.n_channels = n_channels
        self.max_length = max_length
        self.patch_size = patch_size
        self.embed_dim = dim
        self.positions = positions
        self.embed = nn.Linear(n_channels * patch_size, dim)
        self.mask_token = mask_token_parameter(dim, mask_token)
        self.pos_embed: nn.Parameter | None = None
        if positions == "learned" and max_length is not None:
            self.pos_embed = nn.Parameter(torch.randn(1, max_length // patch_size, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            mlp_dim or 4 * dim,
            dropout=dropout,
            activation=activation,
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def tokens(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode to tokens: ``(B, T, C) -> (B, T/p, dim)`` and the token mask ``(B, T/p)``.

        Args:
            x: ``(B, T, C)`` series.
            mask: ``(B, T)`` bool, True where a step is observed (None: all observed). Tokens
                with no observed step are not attended to.
            hidden: ``(B, T/p)`` bool, True where the token's embedding is replaced by the
                mask token (needs ``mask_token=True``).
        """
        B, T, C = x.shape
        p = self.patch_size
        too_long = self.max_length is not None and self.max_length < T
        if T % p or too_long:
            raise ValueError(
                f"TimeSeriesTransformer: length {T} must be a multiple of patch_size={p} and at "
                f"most max_length={self.max_length}"
            )
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=x.device)
        x = x * mask.unsqueeze(-1)
        tokens = self.embed(x.reshape(B, T // p, p * C))  # (B, T/p, dim)
        tokens = hide_tokens(tokens, hidden, self.mask_token, "TimeSeriesTransformer")
        if self.pos_embed is not None:
            tokens = tokens + self.pos_embed[:, : T // p]
        else:
            tokens = tokens + sinusoidal_positions(T // p, self.embed_dim, x.device, tokens.dtype)
        token_mask = mask.reshape(B, T // p, p).any(dim=-1)  # (B, T/p)
        # A row with no observed token would make attention NaN; let such rows attend to all.
        ignored = ~token_mask & token_mask.any(dim=1, keepdim=True)
        out = self.blocks(tokens, src_key_padding_mask=ignored)
        return self.norm(out), token_mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Embed series: ``(B, T, C) -> (B, dim)`` by a mean over observed tokens."""
        tokens, token_mask = self.tokens(x, mask)
        return masked_mean(tokens, token_mask)
