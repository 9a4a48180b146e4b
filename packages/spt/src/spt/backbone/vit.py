"""Small Vision Transformers (ViT, Dosovitskiy et al. 2021) with MAE-style random masking."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into flattened patches: ``(B, C, H, W) -> (B, N, patch_size**2 * C)``."""
    B, C, H, W = images.shape
    if H % patch_size or W % patch_size:
        raise ValueError(
            f"patchify: image size {H}x{W} is not divisible by patch_size={patch_size}"
        )
    h, w = H // patch_size, W // patch_size
    x = images.reshape(B, C, h, patch_size, w, patch_size)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(B, h * w, patch_size * patch_size * C)


def _encoder(dim: int, depth: int, heads: int, mlp_ratio: float, dropout: float) -> nn.Module:
    layer = nn.TransformerEncoderLayer(
        dim,
        heads,
        int(dim * mlp_ratio),
        dropout=dropout,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class VisionTransformer(nn.Module):
    """A ViT encoder with a class token; returns the normalised class token.

    Args:
        img_size: Input height and width.
        patch_size: Patch side; ``img_size`` must be divisible by it.
        in_channels: Image channels.
        dim: Token width.
        depth: Transformer blocks.
        heads: Attention heads.
        mlp_ratio: Hidden width of the MLP relative to ``dim``.
        dropout: Dropout inside the blocks.

    Shapes:
        ``forward``: ``(B, C, H, W) -> (B, dim)``.
        ``encode``: ``(B, C, H, W) ->`` tokens ``(B, 1 + N_kept, dim)``, mask ``(B, N)``,
        ids_restore ``(B, N)``.
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        dim: int = 192,
        depth: int = 12,
        heads: int = 3,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(
                f"VisionTransformer: img_size={img_size} is not divisible by "
                f"patch_size={patch_size}; pick a patch size that divides it"
            )
        self.patch_size = patch_size
        self.num_patches = (img_size // patch_size) ** 2
        self.embed_dim = dim
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.num_patches, dim) * 0.02)
        self.blocks = _encoder(dim, depth, heads, mlp_ratio, dropout)
        self.norm = nn.LayerNorm(dim)

    def encode(
        self, images: torch.Tensor, mask_ratio: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode the patches kept after random masking (MAE, He et al. 2022).

        Args:
            images: ``(B, C, H, W)``.
            mask_ratio: Fraction of patches dropped per sample (0 keeps all).

        Returns:
            ``tokens`` (B, 1 + N_kept, dim) normalised, ``mask`` (B, N) with 1 = dropped,
            ``ids_restore`` (B, N) that puts shuffled tokens back in patch order.
        """
        x = self.patch_embed(images).flatten(2).transpose(1, 2)  # (B, N, dim)
        B, N, D = x.shape
        x = x + self.pos_embed[:, 1:]
        n_keep = round(N * (1.0 - mask_ratio))
        noise = torch.rand(B, N, device=x.device)
        ids_shuffle = noise.argsort(dim=1)
        ids_restore = ids_shuffle.argsort(dim=1)
        ids_keep = ids_shuffle[:, :n_keep]
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, D))  # (B, N_kept, dim)
        mask = torch.ones(B, N, device=x.device)
        mask[:, :n_keep] = 0
        mask = torch.gather(mask, 1, ids_restore)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(B, -1, -1)
        tokens = self.norm(self.blocks(torch.cat([cls, x], dim=1)))
        return tokens, mask, ids_restore

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embed images: ``(B, C, H, W) -> (B, dim)`` (the class token)."""
        tokens, _, _ = self.encode(images, 0.0)
        return tokens[:, 0]


class MAEDecoder(nn.Module):
    """The light MAE decoder: mask tokens fill the dropped patches, then pixels per patch.

    Args:
        num_patches: Patches per image.
        encoder_dim: Width of the encoder tokens.
        patch_dim: Output per patch (``patch_size**2 * channels``).
        dim: Decoder width.
        depth: Decoder blocks.
        heads: Attention heads.

    Shapes:
        ``(B, 1 + N_kept, encoder_dim), ids_restore (B, N) -> (B, N, patch_dim)``.
    """

    def __init__(
        self,
        num_patches: int,
        encoder_dim: int,
        patch_dim: int,
        dim: int = 128,
        depth: int = 2,
        heads: int = 4,
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + num_patches, dim) * 0.02)
        self.blocks = _encoder(dim, depth, heads, 4.0, 0.0)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, patch_dim)

    def forward(self, tokens: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Predict every patch from the kept tokens."""
        x = self.embed(tokens)
        B, N = ids_restore.shape
        n_missing = N + 1 - x.shape[1]
        filler = self.mask_token.expand(B, n_missing, -1)
        patches = torch.cat([x[:, 1:], filler], dim=1)  # (B, N, dim), shuffled order
        patches = torch.gather(patches, 1, ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[2]))
        x = torch.cat([x[:, :1], patches], dim=1) + self.pos_embed
        pixels: torch.Tensor = self.head(self.norm(self.blocks(x)))
        return pixels[:, 1:]


def vit_tiny(patch_size: int = 16, img_size: int = 224, **kwargs: Any) -> VisionTransformer:
    """ViT-Tiny: width 192, 12 blocks, 3 heads."""
    return VisionTransformer(img_size, patch_size, dim=192, depth=12, heads=3, **kwargs)


def vit_small(patch_size: int = 16, img_size: int = 224, **kwargs: Any) -> VisionTransformer:
    """ViT-Small: width 384, 12 blocks, 6 heads."""
    return VisionTransformer(img_size, patch_size, dim=384, depth=12, heads=6, **kwargs)


def vit_base(patch_size: int = 16, img_size: int = 224, **kwargs: Any) -> VisionTransformer:
    """ViT-Base: width 768, 12 blocks, 12 heads."""
    return VisionTransformer(img_size, patch_size, dim=768, depth=12, heads=12, **kwargs)
