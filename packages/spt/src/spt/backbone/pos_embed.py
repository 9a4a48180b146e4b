"""Position embeddings of Vision Transformers: fixed 2-D sin-cos, and resizing to other grids."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["interpolate_pos_embed", "sincos_pos_embed_2d"]


def sincos_pos_embed_2d(
    dim: int, grid_size: tuple[int, int], dtype: torch.dtype = torch.float32
) -> Tensor:
    """The fixed 2-D sin-cos position embedding of MAE (He et al. 2022) and I-JEPA.

    For the patch at row ``r`` and column ``c`` of a ``(h, w)`` grid, with ``q = dim // 4``
    and frequencies ``omega_i = 10000 ** (-i / q)`` for ``i < q``, the embedding is the
    concatenation ``[sin(c * omega), cos(c * omega), sin(r * omega), cos(r * omega)]``:
    the first half encodes the column, the second half the row. Patches are in row-major
    order (the order of :func:`spt.backbone.patchify`).

    Args:
        dim: Embedding width; a multiple of 4.
        grid_size: ``(h, w)`` patches.
        dtype: Output dtype (computed in float64).

    Returns:
        ``(h * w, dim)``.

    Raises:
        ValueError: If ``dim`` is not a multiple of 4.

    Examples:
        >>> sincos_pos_embed_2d(8, (2, 3)).shape
        torch.Size([6, 8])
    """
    if dim % 4:
        raise ValueError(
            f"sincos_pos_embed_2d: dim={dim} is not a multiple of 4 (sin and cos of two "
            "axes); pick a width divisible by 4 or pos_embed='learnable'"
        )
    h, w = grid_size
    q = dim // 4
    omega = 10000.0 ** (-torch.arange(q, dtype=torch.float64) / q)  # (q,)
    rows, cols = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    col = cols.reshape(-1, 1) * omega  # (h * w, q)
    row = rows.reshape(-1, 1) * omega
    return torch.cat([col.sin(), col.cos(), row.sin(), row.cos()], dim=1).to(dtype)


def interpolate_pos_embed(
    pos_embed: Tensor, from_grid: tuple[int, int], to_grid: tuple[int, int]
) -> Tensor:
    """Resize patch position embeddings to another grid by bicubic interpolation.

    This is how DINO and DINOv2 run a ViT built for one image size on another (multi-crop
    local views, higher-resolution evaluation): the embeddings, laid out as a ``(D, h, w)``
    image, are resampled with ``F.interpolate(mode="bicubic", align_corners=False)``.
    The same grid returns the input unchanged. Computed in at least float32.

    Args:
        pos_embed: ``(1, h * w, D)`` embeddings of the patches (no class token).
        from_grid: ``(h, w)`` the embeddings were built for.
        to_grid: ``(h', w')`` wanted.

    Returns:
        ``(1, h' * w', D)``.

    Examples:
        >>> interpolate_pos_embed(torch.zeros(1, 16, 8), (4, 4), (2, 2)).shape
        torch.Size([1, 4, 8])
    """
    if tuple(from_grid) == tuple(to_grid):
        return pos_embed
    h, w = from_grid
    dim = pos_embed.shape[-1]
    work = torch.promote_types(pos_embed.dtype, torch.float32)  # bicubic in half is coarse
    grid = pos_embed.to(work).reshape(1, h, w, dim).permute(0, 3, 1, 2)  # (1, D, h, w)
    resized = F.interpolate(grid, size=tuple(to_grid), mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1).reshape(1, -1, dim).to(pos_embed.dtype)
