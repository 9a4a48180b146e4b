"""MAE (He et al. 2022) as a ready module: a ViT encoder and the light decoder."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.mae_decoder import MAEDecoder
from spt.forward import mae_forward
from spt.methods._simclr import check_embed_dim
from spt_losses import MAELoss


def _patch_geometry(backbone: nn.Module) -> tuple[int, tuple[int, int], int]:
    """``(num_patches, grid_size, patch_dim)`` of a ViT that can encode a masked image."""
    needed = ("forward_tokens", "patch_size", "num_patches", "grid_size", "patch_embed")
    missing = [name for name in needed if not hasattr(backbone, name)]
    if missing:
        raise TypeError(
            f"spt.methods.mae: the backbone ({type(backbone).__name__}) has no "
            f"{', '.join(missing)}; pass a ViT that encodes masked images, e.g. "
            "spt.backbone.VisionTransformer(img_size=..., patch_size=...)"
        )
    vit: Any = backbone
    patch_size = int(vit.patch_size)
    grid = (int(vit.grid_size[0]), int(vit.grid_size[1]))
    return int(vit.num_patches), grid, patch_size * patch_size * int(vit.patch_embed.in_channels)


def mae(
    backbone: nn.Module,
    embed_dim: int,
    *,
    decoder_dim: int = 512,
    decoder_depth: int = 8,
    decoder_heads: int = 16,
    mask_ratio: float = 0.75,
    norm_pix_loss: bool = True,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """MAE (He et al. 2022): encode a random 25% of the patches, reconstruct the others.

    Every sample masks its own random patches; the encoder sees the kept ones only
    (``forward_tokens(images, kept_idx)``). The decoder is the paper's default (8 blocks of
    width 512, 16 heads) with mask tokens and fixed sin-cos position embeddings; the loss is
    the squared error on masked patches of the per-patch normalised pixels
    (``norm_pix_loss``, the paper's best target). The embedding the callbacks see is the class
    token of the whole image. The paper's encoder has sin-cos position embeddings and
    xavier-uniform linear layers too: build the ViT with ``pos_embed="sincos",
    weight_init="xavier"``.

    Args:
        backbone: A ViT with ``forward_tokens``, ``patch_size``, ``num_patches``,
            ``grid_size`` and ``patch_embed`` (:class:`spt.backbone.VisionTransformer`).
        embed_dim: Token width of the backbone.
        decoder_dim: Width of the decoder (512).
        decoder_depth: Decoder blocks (8).
        decoder_heads: Decoder attention heads (16).
        mask_ratio: Fraction of patches masked per image (0.75).
        norm_pix_loss: Normalise each target patch over its pixels (True).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.mae, backbone, decoder, mae_loss, mask_ratio)``.

    Raises:
        TypeError: If the backbone cannot encode masked patches.
        ValueError: If ``mask_ratio`` is not in [0, 1) or keeps no patch, or ``embed_dim``
            is not the ViT's.

    Examples:
        >>> import spt
        >>> vit = spt.backbone.VisionTransformer(16, 4, in_channels=1, dim=32, depth=1, heads=2)
        >>> module = spt.methods.mae(vit, 32, decoder_dim=32, decoder_depth=1, decoder_heads=2)
        >>> module.decoder.head.out_features, module.mask_ratio
        (16, 0.75)
    """
    check_embed_dim("mae", backbone, embed_dim)
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"spt.methods.mae: mask_ratio={mask_ratio!r} must be in [0, 1)")
    num_patches, grid_size, patch_dim = _patch_geometry(backbone)
    if int(num_patches * (1.0 - mask_ratio)) < 1:
        raise ValueError(
            f"spt.methods.mae: mask_ratio={mask_ratio!r} keeps no patch of the backbone's "
            f"{num_patches}; lower mask_ratio"
        )
    decoder = MAEDecoder(
        num_patches=num_patches,
        encoder_dim=embed_dim,
        patch_dim=patch_dim,
        dim=decoder_dim,
        depth=decoder_depth,
        heads=decoder_heads,
        grid_size=grid_size,
    )
    return spt_module.Module(
        forward=mae_forward,
        backbone=backbone,
        decoder=decoder,
        mae_loss=MAELoss(norm_pix_loss=norm_pix_loss),
        mask_ratio=float(mask_ratio),
        optim=optim,
        **module_kwargs,
    )
