"""The light MAE decoder (He et al. 2022): mask tokens fill the dropped patches, then pixels."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from spt.backbone._vit_blocks import Block
from spt.backbone.pos_embed import sincos_pos_embed_2d

__all__ = ["MAEDecoder"]


class MAEDecoder(nn.Module):
    """The MAE decoder: the encoder's visible tokens plus mask tokens, blocks, pixels per patch.

    The visible patch tokens are projected to the decoder width and put back at their patch
    positions (``kept_idx``); every other position gets the shared learned mask token.
    Position embeddings are added to all tokens, the class token goes first, and after the
    blocks a linear layer predicts the pixels of every patch. The paper's decoder is 8
    blocks of width 512 with 16 heads (the defaults of ``spt.methods.mae``), fixed sin-cos
    position embeddings and xavier-uniform linear layers.

    Args:
        num_patches: Patches per image (``N``).
        encoder_dim: Width of the encoder tokens.
        patch_dim: Output per patch (``patch_size**2 * channels``).
        dim: Decoder width.
        depth: Decoder blocks.
        heads: Attention heads.
        grid_size: ``(h, w)`` patch grid for the sin-cos embedding; ``None`` for a square.
        pos_embed: ``"sincos"`` (fixed, the paper's code) or ``"learnable"``.

    Shapes:
        ``cls_token (B, encoder_dim), patch_tokens (B, K, encoder_dim), kept_idx (B, K)
        -> (B, N, patch_dim)`` in row-major patch order.

    Examples:
        >>> decoder = MAEDecoder(16, encoder_dim=32, patch_dim=48, dim=16, depth=1, heads=2)
        >>> keep = torch.tensor([[0, 5, 9, 15]])
        >>> decoder(torch.randn(1, 32), torch.randn(1, 4, 32), keep).shape
        torch.Size([1, 16, 48])
    """

    def __init__(
        self,
        num_patches: int,
        encoder_dim: int,
        patch_dim: int,
        dim: int = 512,
        depth: int = 8,
        heads: int = 16,
        *,
        grid_size: tuple[int, int] | None = None,
        pos_embed: Literal["sincos", "learnable"] = "sincos",
    ) -> None:
        super().__init__()
        if grid_size is None:
            side = round(num_patches**0.5)
            grid_size = (side, side)
        if grid_size[0] * grid_size[1] != num_patches:
            raise ValueError(
                f"MAEDecoder: grid_size={grid_size} does not hold num_patches={num_patches}; "
                "pass grid_size=(h, w) of the encoder (backbone.grid_size)"
            )
        if pos_embed not in ("sincos", "learnable"):
            raise ValueError(f"MAEDecoder: pos_embed={pos_embed!r}; use 'sincos' or 'learnable'")
        self.num_patches = num_patches
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed: Tensor
        if pos_embed == "sincos":
            table = torch.cat([torch.zeros(1, dim), sincos_pos_embed_2d(dim, grid_size)])
            self.register_buffer("pos_embed", table.unsqueeze(0))
        else:
            self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, dim))
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, patch_dim)
        nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():  # xavier-uniform linear layers, as the paper's code
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, cls_token: Tensor, patch_tokens: Tensor, kept_idx: Tensor) -> Tensor:
        """Predict every patch from the visible ones.

        Args:
            cls_token: ``(B, encoder_dim)`` the encoder's class token.
            patch_tokens: ``(B, K, encoder_dim)`` visible patch tokens, row ``j`` of sample
                ``b`` at patch ``kept_idx[b, j]`` (:class:`spt.backbone.ViTOutput`).
            kept_idx: ``(B, K)`` long patch indices in ``[0, num_patches)``.

        Returns:
            ``(B, num_patches, patch_dim)`` predicted pixels of every patch.
        """
        visible = self.embed(patch_tokens)  # (B, K, dim)
        B, _, D = visible.shape
        full = self.mask_token.to(visible.dtype).expand(B, self.num_patches, D)
        full = full.scatter(1, kept_idx.unsqueeze(-1).expand(-1, -1, D), visible)  # (B, N, dim)
        x = torch.cat([self.embed(cls_token).unsqueeze(1), full], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        pixels: Tensor = self.head(self.norm(x))
        return pixels[:, 1:]
