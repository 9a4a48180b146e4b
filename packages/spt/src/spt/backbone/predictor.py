"""I-JEPA's predictor (Assran et al. 2023): a narrow ViT conditioned on the target positions.

The predictor reads the context encoder's patch tokens and, for each target block, a set of
mask tokens that carry the position embeddings of the block's patches; after its blocks, the
outputs at the mask tokens are the predicted target features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spt.backbone._vit_blocks import Block
from spt.backbone.pos_embed import sincos_pos_embed_2d

__all__ = ["IJEPAPredictor"]


class IJEPAPredictor(nn.Module):
    """The I-JEPA predictor: context tokens plus positional mask tokens through narrow blocks.

    For each of the ``M`` target blocks, the sequence is the ``K_ctx`` context tokens,
    projected to the predictor width and given the fixed 2-D sin-cos position embedding of
    their patches, followed by ``K_tgt`` copies of one learned mask token, each plus the
    position embedding of a target patch. The ``M`` sequences of a batch go through the
    blocks together (batch ``M * B``; they do not attend to each other), then a final norm
    and a linear layer back to the encoder width give the predictions at the mask tokens.

    The paper's predictor is 384 wide with as many heads as the encoder; 12 blocks deep for
    ViT-L/16 and ViT-H (the default here), 6 for ViT-B/16.

    Args:
        grid_size: ``(h, w)`` patch grid of the encoder (``VisionTransformer.grid_size``);
            an int for a square grid.
        embed_dim: Width of the encoder tokens, in and out.
        dim: Predictor width (384).
        depth: Predictor blocks (12).
        heads: Attention heads; divides ``dim`` (the paper: the encoder's count).
        mlp_ratio: Hidden width of the MLPs relative to ``dim``.
        drop_path_rate: Stochastic depth, rising linearly from 0 to this over the blocks.

    Shapes:
        ``context_tokens (B, K_ctx, embed_dim), context_idx (B, K_ctx), target_idx
        (M, B, K_tgt) -> (M, B, K_tgt, embed_dim)``; a ``(B, K_tgt)`` ``target_idx`` (one
        block) gives ``(B, K_tgt, embed_dim)``. Indices are row-major patch numbers in
        ``[0, h * w)``, as :class:`spt_data.masking.MultiBlockMask` makes them.

    Examples:
        >>> predictor = IJEPAPredictor((4, 4), embed_dim=32, dim=16, depth=1, heads=2)
        >>> context = torch.randn(2, 9, 32)
        >>> context_idx = torch.arange(9).expand(2, 9)
        >>> target_idx = torch.tensor([10, 11, 14, 15]).expand(3, 2, 4)  # 3 blocks of 4
        >>> predictor(context, context_idx, target_idx).shape
        torch.Size([3, 2, 4, 32])
    """

    pos_embed: Tensor

    def __init__(
        self,
        grid_size: int | tuple[int, int],
        embed_dim: int,
        dim: int = 384,
        depth: int = 12,
        heads: int = 12,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        grid = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
        if len(grid) != 2 or min(grid) < 1:
            raise ValueError(
                f"IJEPAPredictor: grid_size={grid_size!r}; pass the encoder's patch grid (h, w) "
                "(VisionTransformer.grid_size)"
            )
        if dim % heads:
            raise ValueError(
                f"IJEPAPredictor: dim={dim} is not divisible by heads={heads}; pick a head "
                "count that divides the predictor width"
            )
        self.grid_size = (int(grid[0]), int(grid[1]))
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.embed_dim = embed_dim
        self.embed = nn.Linear(embed_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        table = sincos_pos_embed_2d(dim, self.grid_size)  # (N, dim), fixed as the authors'
        self.register_buffer("pos_embed", table.unsqueeze(0))
        rates = torch.linspace(0.0, drop_path_rate, depth).tolist() if depth else []
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, drop_path=rate) for rate in rates)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.proj = nn.Linear(dim, embed_dim)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def _positions(self, idx: Tensor) -> Tensor:
        """Position embeddings of patch indices: ``(..., K) -> (..., K, dim)``."""
        return self.pos_embed[0].to(self.mask_token.dtype)[idx]

    def forward(self, context_tokens: Tensor, context_idx: Tensor, target_idx: Tensor) -> Tensor:
        """Predict the encoder features of the target patches from the context tokens.

        Args:
            context_tokens: ``(B, K_ctx, embed_dim)`` the context encoder's patch tokens.
            context_idx: ``(B, K_ctx)`` long, the patch of each context token.
            target_idx: ``(M, B, K_tgt)`` long, the patches of each target block (or
                ``(B, K_tgt)`` for one block).

        Returns:
            ``(M, B, K_tgt, embed_dim)`` predictions (``(B, K_tgt, embed_dim)`` for a 2-D
            ``target_idx``).

        Raises:
            ValueError: On tokens, indices or widths that do not fit together.
        """
        single = target_idx.ndim == 2
        targets = target_idx.unsqueeze(0) if single else target_idx  # (M, B, K_tgt)
        self._check(context_tokens, context_idx, targets)
        M, B = targets.shape[:2]
        K_ctx = context_tokens.shape[1]
        context = self.embed(context_tokens) + self._positions(context_idx)  # (B, K_ctx, dim)
        queries = self.mask_token + self._positions(targets)  # (M, B, K_tgt, dim)
        context = context.unsqueeze(0).expand(M, -1, -1, -1)  # (M, B, K_ctx, dim)
        x = torch.cat([context, queries], dim=2).flatten(0, 1)  # (M * B, K_ctx + K_tgt, dim)
        for block in self.blocks:
            x = block(x)
        out: Tensor = self.proj(self.norm(x[:, K_ctx:]))  # (M * B, K_tgt, embed_dim)
        out = out.reshape(M, B, *out.shape[1:])
        return out[0] if single else out

    def _check(self, tokens: Tensor, context_idx: Tensor, targets: Tensor) -> None:
        if tokens.ndim != 3 or tokens.shape[-1] != self.embed_dim:
            raise ValueError(
                f"IJEPAPredictor: context_tokens must be (B, K_ctx, {self.embed_dim}); got "
                f"shape {tuple(tokens.shape)}"
            )
        if context_idx.shape != tokens.shape[:2]:
            raise ValueError(
                f"IJEPAPredictor: context_idx has shape {tuple(context_idx.shape)}; it must be "
                f"(B, K_ctx) = {tuple(tokens.shape[:2])}, one patch index per context token"
            )
        if targets.ndim != 3 or targets.shape[1] != tokens.shape[0]:
            raise ValueError(
                f"IJEPAPredictor: target_idx has shape {tuple(targets.shape)}; it must be "
                f"(M, B, K_tgt) with B = {tokens.shape[0]}"
            )
