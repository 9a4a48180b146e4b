"""The pre-norm transformer block of ViTs: attention through ``F.scaled_dot_product_attention``.

One :class:`Block` is ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))`` (Dosovitskiy et al.
2021), with optional stochastic depth (Huang et al. 2016) and LayerScale (Touvron et al.
2021, used by DINOv2). Each block is its own module so that FSDP2 can shard per block.
``Attention(fused=False)``, or :func:`set_fused_attention` on a built model, computes the
attention with an explicit softmax instead (the same values; for comparing speed and memory).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Attention", "Block", "DropPath", "LayerScale", "set_fused_attention"]


class Attention(nn.Module):
    """Multi-head self-attention.

    Args:
        dim: Token width; divisible by ``heads``.
        heads: Attention heads.
        qkv_bias: Bias on the query, key and value projection.
        dropout: Dropout after the output projection.
        fused: ``F.scaled_dot_product_attention`` (True) or the explicit
            ``softmax(q k^T / sqrt(d)) v`` (False); the attribute ``fused`` can be changed
            after construction.

    Shapes:
        ``(B, T, dim) -> (B, T, dim)``; with ``return_attention`` also the attention
        weights ``(B, heads, T, T)`` (each row sums to 1).
    """

    def __init__(
        self, dim: int, heads: int, qkv_bias: bool = True, dropout: float = 0.0, fused: bool = True
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(
                f"Attention: dim={dim} is not divisible by heads={heads}; pick a head count "
                "that divides the width"
            )
        self.num_heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)
        self.fused = fused

    def forward(self, x: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Attend over the tokens; the explicit softmax when the weights are wanted or not fused."""
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, head_dim)
        if return_attention or not self.fused:
            scores = (q @ k.transpose(-2, -1)) * self.head_dim**-0.5  # (B, heads, T, T)
            attention = scores.softmax(dim=-1)
            out = attention @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, T, D)))
        return (out, attention) if return_attention else out


def set_fused_attention(model: nn.Module, fused: bool) -> int:
    """Set ``fused`` on every :class:`Attention` inside ``model``; returns how many there are.

    Examples:
        >>> blocks = nn.Sequential(Block(8, 2), Block(8, 2))
        >>> set_fused_attention(blocks, False), blocks[0].attn.fused
        (2, False)
    """
    layers = [m for m in model.modules() if isinstance(m, Attention)]
    for layer in layers:
        layer.fused = fused
    return len(layers)


class DropPath(nn.Module):
    """Stochastic depth: drop the residual branch of a whole sample with probability ``p``.

    Kept samples are scaled by ``1 / (1 - p)``; identity in eval mode or with ``p = 0``
    (and then draws nothing from the random generator).
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"DropPath: p={p!r} must be in [0, 1)")
        self.p = p

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        return x * torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep) / keep


class LayerScale(nn.Module):
    """A learned per-channel scale of a residual branch, initialised to ``init`` (CaiT)."""

    def __init__(self, dim: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block: attention then MLP, each a residual branch.

    Args:
        dim: Token width.
        heads: Attention heads.
        mlp_ratio: MLP hidden width relative to ``dim``.
        dropout: Dropout after the attention projection and inside the MLP.
        drop_path: Stochastic-depth probability of both branches.
        layer_scale: Initial LayerScale value (DINOv2 uses 1e-5); ``None`` for none.
        qkv_bias: Bias on the attention's input projection.

    Shapes:
        ``(B, T, dim) -> (B, T, dim)``; with ``return_attention`` also ``(B, heads, T, T)``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        drop_path: float = 0.0,
        layer_scale: float | None = None,
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, qkv_bias=qkv_bias, dropout=dropout)
        self.ls1: nn.Module = nn.Identity() if layer_scale is None else LayerScale(dim, layer_scale)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )
        self.ls2: nn.Module = nn.Identity() if layer_scale is None else LayerScale(dim, layer_scale)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """One block; ``return_attention`` also returns this block's attention weights."""
        if return_attention:
            attended, attention = self.attn(self.norm1(x), return_attention=True)
        else:
            attended = self.attn(self.norm1(x))
        x = x + self.drop_path(self.ls1(attended))
        x = x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
        return (x, attention) if return_attention else x
