"""Class-token attention maps of a ViT's last block, as DINO (Caron et al. 2021) shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from spt.plots._mpl import new_figure, save_figure

__all__ = ["class_token_attention", "draw_attention_maps"]

PANEL = 1.6  # inches per image panel


def class_token_attention(vit: Any, images: Tensor) -> Tensor:
    """The attention of the class token to every patch in the last block, per head.

    Args:
        vit: A :class:`spt.backbone.VisionTransformer` with a class token.
        images: ``(B, C, H, W)``.

    Returns:
        ``(B, heads, h, w)`` on the patch grid of ``images``; over the patches each head's
        map sums to 1 minus the class token's attention to itself and the registers.

    Raises:
        ValueError: If the ViT has no class token.

    Examples:
        >>> from spt.backbone import VisionTransformer
        >>> vit = VisionTransformer(16, 4, in_channels=1, dim=8, depth=1, heads=2)
        >>> class_token_attention(vit, torch.zeros(3, 1, 16, 16)).shape
        torch.Size([3, 2, 4, 4])
    """
    if getattr(vit, "cls_token", None) is None:
        raise ValueError(
            "class_token_attention: the ViT has no class token (class_token=False); "
            "there is no class-token attention to draw"
        )
    h, w = images.shape[-2] // vit.patch_size, images.shape[-1] // vit.patch_size
    with torch.no_grad():
        attention = vit.get_last_selfattention(images)  # (B, heads, T, T)
    first_patch = 1 + int(vit.num_registers)
    maps: Tensor = attention[:, :, 0, first_patch:]  # (B, heads, h * w)
    return maps.reshape(*maps.shape[:2], h, w)


def _displayable(image: Tensor) -> np.ndarray:
    """``(C, H, W)`` -> ``(H, W)`` or ``(H, W, 3)`` in [0, 1], min-max scaled."""
    x = image.detach().float().cpu()
    x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12)
    return x[0].numpy() if x.shape[0] == 1 else x[:3].permute(1, 2, 0).numpy()


def draw_attention_maps(
    images: Tensor, maps: Tensor, path: str | Path, title: str = "class-token attention"
) -> Path:
    """A PNG with one row per image: the image, the mean over heads, then each head.

    Each map is upsampled to the image size (nearest) and drawn over the image.

    Args:
        images: ``(B, C, H, W)`` the images the maps come from (any normalisation).
        maps: ``(B, heads, h, w)`` from :func:`class_token_attention`.
        path: The PNG to write.
        title: The figure's title.

    Returns:
        ``path``.

    Raises:
        ValueError: If ``images`` and ``maps`` differ in batch size.
        spt.plots.MissingExtraError: Without matplotlib (``pip install "spt[plots]"``).
    """
    if images.shape[0] != maps.shape[0] or maps.ndim != 4:
        raise ValueError(
            f"draw_attention_maps: images {tuple(images.shape)} and maps {tuple(maps.shape)} "
            "must be (B, C, H, W) and (B, heads, h, w) with the same B"
        )
    B, heads = maps.shape[:2]
    up = F.interpolate(maps.detach().float().cpu(), size=images.shape[-2:], mode="nearest")
    columns = [("mean of heads", up.mean(1))] + [(f"head {i}", up[:, i]) for i in range(heads)]
    figure = new_figure(PANEL * (1 + len(columns)), PANEL * B + 0.4)
    figure.suptitle(title)
    for b in range(B):
        picture = _displayable(images[b])
        cmap = "gray" if picture.ndim == 2 else None
        axes = figure.add_subplot(B, 1 + len(columns), b * (1 + len(columns)) + 1)
        axes.imshow(picture, cmap=cmap)
        axes.set_axis_off()
        if b == 0:
            axes.set_title("image", fontsize="small")
        for j, (name, values) in enumerate(columns):
            axes = figure.add_subplot(B, 1 + len(columns), b * (1 + len(columns)) + j + 2)
            axes.imshow(picture, cmap=cmap)
            axes.imshow(values[b].numpy(), cmap="inferno", alpha=0.6)
            axes.set_axis_off()
            if b == 0:
                axes.set_title(name, fontsize="small")
    return save_figure(figure, Path(path))
