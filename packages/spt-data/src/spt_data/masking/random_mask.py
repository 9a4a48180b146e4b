"""MAE's random masking: an exact number of patches per sample, chosen uniformly."""

from __future__ import annotations

import torch
from torch import Tensor

from spt_data.gpu._random import uniform
from spt_data.masking._base import PatchMask, check_int, check_number, resolve_device

__all__ = ["RandomMask"]


class RandomMask(PatchMask):
    """Random patch masking (MAE, He et al. 2022): ``round(ratio * N)`` patches per sample.

    Each sample ranks its ``N`` patches by independent uniform noise and masks the first
    ``round(ratio * N)``, so every sample of a batch masks the same number of patches (a ViT
    can drop them and still stack the batch) at its own positions. MAE masks 75%.

    Args:
        grid_size: Patch grid ``(h, w)`` or one int for a square grid.
        ratio: Fraction of patches masked, in ``[0, 1)``.
        key: The sample key the mask is written to when used as a data transform.

    Shapes:
        - ``generate(B)``: ``(B, N)`` bool, True = masked, ``N = h * w`` row-major.
        - as a transform: adds ``key`` ``(N,)`` bool to the sample dict.

    Raises:
        ValueError: ``ratio`` is outside ``[0, 1)`` or ``grid_size`` is not positive ints.

    Examples:
        >>> from spt_data.masking import RandomMask
        >>> masks = RandomMask((4, 4), ratio=0.75).generate(3)
        >>> masks.shape, masks.sum(1).tolist()
        (torch.Size([3, 16]), [12, 12, 12])
        >>> RandomMask(4)({"image": torch.zeros(3, 16, 16)})["mask"].shape
        torch.Size([16])
    """

    def __init__(
        self, grid_size: int | tuple[int, int], ratio: float = 0.75, key: str = "mask"
    ) -> None:
        super().__init__(grid_size, key)
        self.ratio = check_number(ratio, "ratio", "RandomMask", 0.0, 1.0, high_open=True)

    @property
    def num_masked(self) -> int:
        """Patches masked in every sample, ``round(ratio * N)``."""
        return round(self.ratio * self.num_patches)

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
            generator: Seeded ``torch.Generator`` for reproducible masks; the noise is drawn
                on its device, so a CPU generator gives the same masks on every device.
        """
        b = check_int(batch_size, "batch_size", "RandomMask.generate", 1)
        dev = resolve_device(device, generator)
        noise = uniform((b, self.num_patches), 0.0, 1.0, dev, generator)  # (B, N)
        chosen = noise.argsort(dim=1)[:, : self.num_masked]  # (B, N_masked)
        mask = torch.zeros(b, self.num_patches, dtype=torch.bool, device=dev)
        return mask.scatter_(1, chosen, True)

    def __repr__(self) -> str:
        return f"RandomMask(grid_size={self.grid_size}, ratio={self.ratio}, key={self.key!r})"
