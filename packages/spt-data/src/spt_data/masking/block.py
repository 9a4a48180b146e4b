"""Blockwise masking of BEiT and iBOT: a union of random rectangles up to a target count."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spt_data.gpu._random import bernoulli, uniform
from spt_data.masking._base import (
    PatchMask,
    check_int,
    check_number,
    check_range,
    resolve_device,
)

__all__ = ["BlockMask"]

# Relative slack of the aspect-ratio test on integer sides (10 / 3 against 1 / 0.3 in float32).
_ASPECT_SLACK = 1e-6


class BlockMask(PatchMask):
    """Blockwise masking (BEiT, Bao et al. 2022; iBOT, Zhou et al. 2022): rectangles of patches.

    The algorithm, for each sample independently (all samples of a batch run side by side):

    1. The target count is ``T = round(r * N)``, with ``r = ratio``, or ``r`` drawn uniformly
       from ``ratio = (lo, hi)`` per sample as iBOT does; with probability
       ``1 - mask_probability`` the sample is not masked at all (``T = 0``).
    2. While fewer than ``T`` patches are masked, propose a rectangle: an area ``s`` uniform in
       ``[min_num_patches, max(min_num_patches, min(max_num_patches, T - masked))]``, an
       aspect ratio (height / width) ``a`` log-uniform in ``aspect_ratio``, sides
       ``round(sqrt(s * a))`` by ``round(sqrt(s / a))``, and a uniform position inside the
       grid. It is placed (its patches are masked) when the rounded rectangle fits the grid,
       its area ``height * width`` is in ``[min_num_patches, max_num_patches]``, its aspect
       ratio is in ``aspect_ratio``, and it masks at least one and at most ``T - masked``
       new patches (rectangles may overlap earlier ones).
    3. After ``max_attempts`` proposals in a row that are not placed, the sample stops.

    So a mask never exceeds ``T`` patches and usually falls short of it by less than
    ``min_num_patches`` (BEiT's rule, which its paper states as "until the count exceeds
    40%"). Unlike BEiT's code, which rounds the sides and keeps the rectangle, a rounded
    rectangle outside the area or aspect range is a failed proposal here, so every placed
    rectangle satisfies both bounds exactly; :meth:`generate_blocks` returns them.

    BEiT: ``BlockMask(14, ratio=0.4)`` (at most 78 of the 196 patches; BEiT's code targets
    75, ``ratio=75 / 196``). iBOT: ``BlockMask(14, ratio=(0.1, 0.5), mask_probability=0.5)``
    on each global view. DINOv2 masks exactly half the batch with ratios spread evenly over
    the range; here every sample draws on its own.

    Args:
        grid_size: Patch grid ``(h, w)`` or one int for a square grid.
        ratio: Target fraction of masked patches, in ``[0, 1]``, or a range ``(lo, hi)``
            from which each sample draws its own.
        min_num_patches: Smallest rectangle area, in patches.
        max_num_patches: Largest rectangle area (default: no bound but the grid).
        aspect_ratio: Range of a rectangle's height / width, drawn log-uniformly.
        mask_probability: Probability that a sample is masked at all.
        max_attempts: Proposals in a row that may fail before a sample stops (BEiT: 10).
        key: The sample key the mask is written to when used as a data transform.

    Shapes:
        - ``generate(B)``: ``(B, N)`` bool, True = masked, ``N = h * w`` row-major.
        - as a transform: adds ``key`` ``(N,)`` bool to the sample dict.

    Raises:
        ValueError: a ratio outside ``[0, 1]``, a bad range, an aspect range not positive, or
            settings that can place no rectangle (``min_num_patches`` above the smallest
            target count or larger than any rectangle that fits the grid).

    Examples:
        >>> from spt_data.masking import BlockMask
        >>> gen = BlockMask((14, 14), ratio=0.4)
        >>> masks = gen.generate(8, generator=torch.Generator().manual_seed(0))
        >>> masks.shape, bool((masks.sum(1) <= 78).all())
        (torch.Size([8, 196]), True)
    """

    def __init__(
        self,
        grid_size: int | tuple[int, int],
        ratio: float | tuple[float, float] = 0.4,
        *,
        min_num_patches: int = 16,
        max_num_patches: int | None = None,
        aspect_ratio: tuple[float, float] = (0.3, 1 / 0.3),
        mask_probability: float = 1.0,
        max_attempts: int = 10,
        key: str = "mask",
    ) -> None:
        super().__init__(grid_size, key)
        owner = "BlockMask"
        n = self.num_patches
        self.ratio = check_range(ratio, "ratio", owner, 0.0, 1.0, scalar=True)
        self.min_num_patches = check_int(min_num_patches, "min_num_patches", owner, 1)
        if self.min_num_patches > n:
            raise ValueError(
                f"{owner}: min_num_patches={min_num_patches} is more than the {n} patches of the "
                f"grid {self.grid_size}; pass at most {n}"
            )
        self.max_num_patches = (
            n
            if max_num_patches is None
            else check_int(max_num_patches, "max_num_patches", owner, 1)
        )
        if self.max_num_patches < self.min_num_patches:
            raise ValueError(
                f"{owner}: max_num_patches={max_num_patches} is below "
                f"min_num_patches={min_num_patches}; pass max_num_patches >= min_num_patches"
            )
        self.aspect_ratio = check_range(
            aspect_ratio, "aspect_ratio", owner, 0.0, math.inf, low_open=True
        )
        self.mask_probability = check_number(mask_probability, "mask_probability", owner, 0, 1)
        self.max_attempts = check_int(max_attempts, "max_attempts", owner, 1)
        smallest_target = round(self.ratio[0] * n)
        if 0 < smallest_target < self.min_num_patches:
            raise ValueError(
                f"{owner}: min_num_patches={self.min_num_patches} is above the smallest target "
                f"count round({self.ratio[0]:g} * {n}) = {smallest_target}, so no rectangle can "
                "be placed; lower min_num_patches or raise ratio"
            )
        if not self._some_rectangle_fits():
            raise ValueError(
                f"{owner}: no rectangle on the grid {self.grid_size} has an area in "
                f"[{self.min_num_patches}, {self.max_num_patches}] and an aspect ratio in "
                f"{self.aspect_ratio}; lower min_num_patches or widen aspect_ratio"
            )

    def _some_rectangle_fits(self) -> bool:
        h, w = self.grid_size
        lo, hi = self.aspect_ratio
        return any(
            self.min_num_patches <= a * b <= self.max_num_patches
            and lo * b * (1 - _ASPECT_SLACK) <= a <= hi * b * (1 + _ASPECT_SLACK)
            for a in range(1, h + 1)
            for b in range(1, w + 1)
        )

    def _target_counts(
        self, b: int, device: torch.device, generator: torch.Generator | None
    ) -> Tensor:
        lo, hi = self.ratio
        r = (
            uniform(b, lo, hi, device, generator)
            if hi > lo
            else torch.full((b,), lo, device=device)
        )
        target = (r.double() * self.num_patches).round().long()  # (B,)
        masked = bernoulli(b, self.mask_probability, device, generator)  # (B,)
        return torch.where(masked, target, torch.zeros_like(target))

    def generate_blocks(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Masks and the rectangles placed to make them.

        Args:
            batch_size: Number of masks ``B``.
            device: Device of the masks (default: the generator's, else the CPU).
            generator: Seeded ``torch.Generator`` for reproducible masks; the draws happen
                on its device, so a CPU generator gives the same masks on every device.

        Returns:
            ``(mask, blocks)``: ``mask`` ``(B, N)`` bool, True = masked; ``blocks``
            ``(B, R, 4)`` long, one row ``(top, left, height, width)`` per proposal round in
            placement order, all zero where that round placed nothing for that sample. The
            mask of a sample is the union of its rectangles.
        """
        b = check_int(batch_size, "batch_size", "BlockMask.generate", 1)
        dev = resolve_device(device, generator)
        h, w = self.grid_size
        target = self._target_counts(b, dev, generator)  # (B,)
        mask = torch.zeros(b, h, w, dtype=torch.bool, device=dev)
        count = torch.zeros(b, dtype=torch.long, device=dev)
        failures = torch.zeros(b, dtype=torch.long, device=dev)
        active = target > 0
        rows = torch.arange(h, device=dev).view(1, h, 1)
        cols = torch.arange(w, device=dev).view(1, 1, w)
        log_lo, log_hi = math.log(self.aspect_ratio[0]), math.log(self.aspect_ratio[1])
        a_min, a_max = self.min_num_patches, self.max_num_patches
        blocks: list[Tensor] = []
        step = 0
        # Checking for finished samples costs a device sync: look every 8 rounds only (extra
        # rounds place nothing for a finished sample).
        while step % 8 != 0 or bool(active.any()):
            step += 1
            u = uniform((b, 4), 0.0, 1.0, dev, generator)  # (B, 4)
            remaining = target - count
            top_area = remaining.clamp(max=a_max).clamp(min=a_min).float()
            area = a_min + u[:, 0] * (top_area - a_min)
            aspect = torch.exp(log_lo + u[:, 1] * (log_hi - log_lo))
            bh = torch.sqrt(area * aspect).round().long()
            bw = torch.sqrt(area / aspect).round().long()
            ratio = bh.float() / bw.clamp(min=1).float()
            fits = (bh >= 1) & (bh <= h) & (bw >= 1) & (bw <= w)
            fits &= (bh * bw >= a_min) & (bh * bw <= a_max)
            fits &= (ratio >= self.aspect_ratio[0] * (1 - _ASPECT_SLACK)) & (
                ratio <= self.aspect_ratio[1] * (1 + _ASPECT_SLACK)
            )
            bh, bw = bh.clamp(1, h), bw.clamp(1, w)
            top = (u[:, 2] * (h - bh + 1)).long().clamp(max=h - bh)
            left = (u[:, 3] * (w - bw + 1)).long().clamp(max=w - bw)
            t, l_ = top.view(b, 1, 1), left.view(b, 1, 1)
            in_rows = (rows >= t) & (rows < t + bh.view(b, 1, 1))  # (B, h, 1)
            rect = in_rows & (cols >= l_) & (cols < l_ + bw.view(b, 1, 1))  # (B, h, w)
            new = (rect & ~mask).sum(dim=(1, 2))  # (B,)
            placed = active & fits & (new > 0) & (new <= remaining)
            mask |= rect & placed.view(b, 1, 1)
            count += torch.where(placed, new, torch.zeros_like(new))
            failures = torch.where(placed, torch.zeros_like(failures), failures + active.long())
            active &= (count < target) & (failures < self.max_attempts)
            blocks.append(torch.stack([top, left, bh, bw], dim=1) * placed.view(b, 1))
        placed_blocks = (
            torch.stack(blocks, dim=1) if blocks else torch.zeros(b, 0, 4, dtype=torch.long)
        )
        return mask.view(b, h * w), placed_blocks.to(dev)

    def generate(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Masks of ``batch_size`` samples, ``(B, N)`` bool, True = masked.

        Args:
            batch_size: Number of masks ``B``.
            device: Device of the masks (default: the generator's, else the CPU).
            generator: Seeded ``torch.Generator`` for reproducible masks.
        """
        return self.generate_blocks(batch_size, device=device, generator=generator)[0]

    def __repr__(self) -> str:
        ratio = self.ratio[0] if self.ratio[0] == self.ratio[1] else self.ratio
        return (
            f"BlockMask(grid_size={self.grid_size}, ratio={ratio}, "
            f"min_num_patches={self.min_num_patches}, max_num_patches={self.max_num_patches}, "
            f"aspect_ratio={self.aspect_ratio}, mask_probability={self.mask_probability}, "
            f"key={self.key!r})"
        )
