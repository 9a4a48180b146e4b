"""I-JEPA's multi-block masks: a large context block and several target blocks kept out of it."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spt_data.gpu._random import uniform
from spt_data.masking._base import check_grid, check_int, check_range, resolve_device

__all__ = ["MultiBlockMask"]


def _first_true(mask: Tensor, k: int) -> Tensor:
    """Indices of the first ``k`` True entries of each row of ``mask`` (..., N), ascending."""
    n = mask.shape[-1]
    ids = torch.arange(n, device=mask.device).expand_as(mask)
    # True entries keep their index, False ones sort after every True one.
    return torch.where(mask, ids, ids + n).sort(dim=-1).values[..., :k]


class MultiBlockMask:
    """Context and target blocks of I-JEPA (Assran et al. 2023), for a batch.

    Per batch, one target block size and one context block size are drawn (every sample of
    the batch shares them, as in the paper): a scale ``s`` uniform in the scale range and an
    aspect ratio (height / width) ``a`` uniform in the aspect range give sides
    ``round(sqrt(s * N * a))`` by ``round(sqrt(s * N / a))`` patches, clipped to the grid.
    Then each sample, independently, places ``num_targets`` target blocks (which may overlap
    each other) and one context block at uniform positions inside the grid; its context is
    the context block minus the union of its targets. A sample whose context has fewer than
    ``min_context`` patches draws all its blocks again, up to ``max_tries`` times.

    The target index lists all have ``height * width`` entries; the context lists differ in
    length and are trimmed to the shortest one of the batch (keeping the lowest indices, as
    the authors' code does) so they stack. ``context_mask`` agrees with the trimmed list, so
    a ViT that drops the masked tokens keeps the same number for every sample.

    Defaults are the paper's: 4 targets of scale (0.15, 0.2) and aspect (0.75, 1.5), a
    context of scale (0.85, 1.0) and aspect 1. Target and context sizes are drawn
    independently (the authors' code reuses one uniform number for scale and aspect).

    Args:
        grid_size: Patch grid ``(h, w)`` or one int for a square grid.
        num_targets: Number of target blocks ``M``.
        target_scale: Range of a target block's area as a fraction of the grid, in (0, 1].
        target_aspect_ratio: Range of a target block's height / width.
        context_scale: Range of the context block's area as a fraction of the grid.
        context_aspect_ratio: Range of the context block's height / width.
        min_context: Fewest context patches a sample may keep.
        max_tries: Draws per sample before giving up with an error.

    Returns (``generate(B)``), a dict with ``N = h * w`` patches numbered row-major:
        - ``context_idx``: ``(B, K_ctx)`` long, ascending indices of the context patches.
        - ``context_mask``: ``(B, N)`` bool, True where a patch is hidden from the context
          encoder (everything outside ``context_idx``); ``N - K_ctx`` per row.
        - ``target_idx``: ``(M, B, K_tgt)`` long, ascending indices of each target block,
          ``K_tgt = height * width`` of the batch's target size.
        - ``target_mask``: ``(M, B, N)`` bool, True on the patches of each target block.

    Raises:
        ValueError: a scale outside (0, 1], a bad range, a non-positive aspect ratio, or a
            ``min_context`` larger than any context block.
        RuntimeError: (on generate) some sample kept fewer than ``min_context`` context
            patches in ``max_tries`` draws; the message gives the block sizes.

    Examples:
        >>> from spt_data.masking import MultiBlockMask
        >>> masks = MultiBlockMask((14, 14)).generate(8, generator=torch.Generator().manual_seed(0))
        >>> sorted(masks)
        ['context_idx', 'context_mask', 'target_idx', 'target_mask']
        >>> masks["target_idx"].shape[:2], masks["context_mask"].shape
        (torch.Size([4, 8]), torch.Size([8, 196]))
    """

    KEYS = ("context_idx", "context_mask", "target_idx", "target_mask")
    """The keys of the dict ``generate`` returns."""

    def __init__(
        self,
        grid_size: int | tuple[int, int],
        *,
        num_targets: int = 4,
        target_scale: tuple[float, float] = (0.15, 0.2),
        target_aspect_ratio: tuple[float, float] = (0.75, 1.5),
        context_scale: tuple[float, float] = (0.85, 1.0),
        context_aspect_ratio: tuple[float, float] = (1.0, 1.0),
        min_context: int = 10,
        max_tries: int = 100,
    ) -> None:
        owner = "MultiBlockMask"
        self.grid_size = check_grid(grid_size, owner)
        self.num_targets = check_int(num_targets, "num_targets", owner, 1)
        self.target_scale = check_range(target_scale, "target_scale", owner, 0, 1, low_open=True)
        self.context_scale = check_range(context_scale, "context_scale", owner, 0, 1, low_open=True)
        self.target_aspect_ratio = check_range(
            target_aspect_ratio, "target_aspect_ratio", owner, 0, math.inf, low_open=True
        )
        self.context_aspect_ratio = check_range(
            context_aspect_ratio, "context_aspect_ratio", owner, 0, math.inf, low_open=True
        )
        self.min_context = check_int(min_context, "min_context", owner, 1)
        self.max_tries = check_int(max_tries, "max_tries", owner, 1)
        largest = max(
            math.prod(self.block_size(self.context_scale[1], a)) for a in self.context_aspect_ratio
        )
        if self.min_context > largest:
            raise ValueError(
                f"{owner}: min_context={min_context} exceeds the largest context block "
                f"({largest} patches of {self.num_patches}); lower min_context or raise "
                "context_scale"
            )

    @property
    def num_patches(self) -> int:
        """Number of patches ``N = h * w``."""
        return self.grid_size[0] * self.grid_size[1]

    def block_size(self, scale: float, aspect_ratio: float) -> tuple[int, int]:
        """Sides ``(height, width)`` in patches of a block of ``scale`` and ``aspect_ratio``."""
        h, w = self.grid_size
        area = scale * self.num_patches
        height = min(max(round(math.sqrt(area * aspect_ratio)), 1), h)
        width = min(max(round(math.sqrt(area / aspect_ratio)), 1), w)
        return height, width

    def draw_block_sizes(
        self, device: torch.device | str | None = None, generator: torch.Generator | None = None
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """The target and the context block sizes ``(height, width)`` of one batch."""
        u = uniform(4, 0.0, 1.0, resolve_device(device, generator), generator).tolist()
        (ts0, ts1), (ta0, ta1) = self.target_scale, self.target_aspect_ratio
        (cs0, cs1), (ca0, ca1) = self.context_scale, self.context_aspect_ratio
        target = self.block_size(ts0 + u[0] * (ts1 - ts0), ta0 + u[1] * (ta1 - ta0))
        context = self.block_size(cs0 + u[2] * (cs1 - cs0), ca0 + u[3] * (ca1 - ca0))
        return target, context

    def _place(
        self,
        b: int,
        sizes: Tensor,
        device: torch.device,
        generator: torch.Generator | None,
    ) -> tuple[Tensor, Tensor]:
        """Blocks of ``sizes`` (M + 1, 2) at uniform positions -> targets (M, B, h, w), context."""
        h, w = self.grid_size
        u = uniform((b, sizes.shape[0], 2), 0.0, 1.0, device, generator)  # (B, M + 1, 2)
        bh, bw = sizes[:, 0], sizes[:, 1]  # (M + 1,)
        top = (u[..., 0] * (h - bh + 1)).long().clamp(max=h - bh)  # (B, M + 1)
        left = (u[..., 1] * (w - bw + 1)).long().clamp(max=w - bw)
        rows = torch.arange(h, device=device).view(1, 1, h, 1)
        cols = torch.arange(w, device=device).view(1, 1, 1, w)
        t, l_ = top[..., None, None], left[..., None, None]
        in_rows = (rows >= t) & (rows < t + bh.view(1, -1, 1, 1))  # (B, M + 1, h, 1)
        blocks = in_rows & (cols >= l_) & (cols < l_ + bw.view(1, -1, 1, 1))  # (B, M + 1, h, w)
        targets = blocks[:, :-1].transpose(0, 1)  # (M, B, h, w)
        context = blocks[:, -1] & ~targets.any(dim=0)  # (B, h, w)
        return targets, context

    def generate(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Context and target indices and masks of a batch (keys in the class docstring).

        Args:
            batch_size: Number of samples ``B``.
            device: Device of the outputs (default: the generator's, else the CPU).
            generator: Seeded ``torch.Generator`` for reproducible masks; the draws happen on
                its device, so a CPU generator gives the same masks on every device.
        """
        b = check_int(batch_size, "batch_size", "MultiBlockMask.generate", 1)
        dev = resolve_device(device, generator)
        m, n = self.num_targets, self.num_patches
        target_size, context_size = self.draw_block_sizes(dev, generator)
        sizes = torch.tensor([target_size] * m + [context_size], device=dev)  # (M + 1, 2)
        targets, context = self._place(b, sizes, dev, generator)
        done = context.sum(dim=(1, 2)) >= self.min_context  # (B,)
        tries = 1
        while not bool(done.all()):
            if tries == self.max_tries:
                raise RuntimeError(
                    f"MultiBlockMask: {int((~done).sum())} of {b} samples kept fewer than "
                    f"min_context={self.min_context} context patches in "
                    f"max_tries={self.max_tries} draws (targets {m} x {target_size}, context "
                    f"{context_size} on the grid {self.grid_size}); lower min_context, "
                    "num_targets or target_scale, or raise context_scale"
                )
            new_targets, new_context = self._place(b, sizes, dev, generator)
            redo = ~done
            targets = torch.where(redo.view(1, b, 1, 1), new_targets, targets)
            context = torch.where(redo.view(b, 1, 1), new_context, context)
            done = context.sum(dim=(1, 2)) >= self.min_context
            tries += 1
        target_mask = targets.reshape(m, b, n)
        context_flat = context.reshape(b, n)
        k_ctx = int(context_flat.sum(dim=1).min())
        context_idx = _first_true(context_flat, k_ctx)  # (B, K_ctx)
        context_mask = torch.ones(b, n, dtype=torch.bool, device=dev)
        context_mask.scatter_(1, context_idx, False)
        return {
            "context_idx": context_idx,
            "context_mask": context_mask,
            "target_idx": _first_true(target_mask, math.prod(target_size)),  # (M, B, K_tgt)
            "target_mask": target_mask,
        }

    def __repr__(self) -> str:
        return (
            f"MultiBlockMask(grid_size={self.grid_size}, num_targets={self.num_targets}, "
            f"target_scale={self.target_scale}, target_aspect_ratio={self.target_aspect_ratio}, "
            f"context_scale={self.context_scale}, "
            f"context_aspect_ratio={self.context_aspect_ratio}, min_context={self.min_context})"
        )
