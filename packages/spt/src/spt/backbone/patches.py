"""Images to flattened patches and back, in the row-major order of ViT patch tokens."""

from __future__ import annotations

from torch import Tensor

__all__ = ["patchify", "unpatchify"]


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Cut images into flattened patches: ``(B, C, H, W) -> (B, N, patch_size**2 * C)``.

    Patches are in row-major order; each is flattened as ``(row, column, channel)``.
    """
    B, C, H, W = images.shape
    if H % patch_size or W % patch_size:
        raise ValueError(
            f"patchify: image size {H}x{W} is not divisible by patch_size={patch_size}"
        )
    h, w = H // patch_size, W // patch_size
    x = images.reshape(B, C, h, patch_size, w, patch_size)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(B, h * w, patch_size * patch_size * C)


def unpatchify(
    patches: Tensor, patch_size: int, grid_size: tuple[int, int] | None = None
) -> Tensor:
    """The inverse of :func:`patchify`: ``(B, h * w, patch_size**2 * C) -> (B, C, H, W)``.

    Args:
        patches: Flattened patches in row-major order.
        patch_size: Patch side.
        grid_size: ``(h, w)``; ``None`` for a square grid.

    Raises:
        ValueError: If the patch width is not ``patch_size**2 * C`` or the count does not
            fill the grid.
    """
    B, N, P = patches.shape
    if P % (patch_size * patch_size):
        raise ValueError(
            f"unpatchify: patch width {P} is not a multiple of patch_size**2 = {patch_size**2}"
        )
    if grid_size is None:
        side = round(N**0.5)
        grid_size = (side, side)
    h, w = grid_size
    if h * w != N:
        raise ValueError(f"unpatchify: {N} patches do not fill grid_size={grid_size}")
    C = P // (patch_size * patch_size)
    x = patches.reshape(B, h, w, patch_size, patch_size, C)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(B, C, h * patch_size, w * patch_size)
