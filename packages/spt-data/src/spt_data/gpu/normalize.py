"""Deterministic batched ops: ``ToFloat`` (uint8 -> [0, 1]) and ``Normalize`` (mean / std)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from spt_data.gpu._base import check_images, to_float


class ToFloat(nn.Module):
    """uint8 images (0-255) -> float32 in [0, 1]; float images pass through unchanged.

    Examples:
        >>> ToFloat()(torch.full((1, 1, 1, 1), 255, dtype=torch.uint8)).item()
        1.0
    """

    def forward(
        self,
        x: Tensor,
        generator: torch.Generator | None = None,
        memory_format: torch.memory_format | None = None,
    ) -> Tensor:
        """Convert a batch (N, C, H, W); ``generator`` is accepted and unused.

        ``memory_format`` (``torch.channels_last``) sets the output's layout; the uint8
        conversion writes it directly.
        """
        return to_float(x, memory_format)


class Normalize(nn.Module):
    """Subtract a per-channel mean and divide by a per-channel std (stored as buffers).

    Args:
        mean: Per-channel means on the [0, 1] scale (e.g. ``spt_data.static.CIFAR10["mean"]``).
        std: Per-channel standard deviations on the [0, 1] scale.

    Examples:
        >>> Normalize([0.5], [0.5])(torch.ones(1, 1, 2, 2)).flatten().tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(
                f"mean has {len(mean)} values and std has {len(std)}; pass one per channel."
            )
        if any(s <= 0 for s in std):
            raise ValueError(f"std={list(std)!r} must be positive.")
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(-1, 1, 1))

    def forward(
        self,
        x: Tensor,
        generator: torch.Generator | None = None,
        memory_format: torch.memory_format | None = None,
    ) -> Tensor:
        """Normalise a batch (N, C, H, W); ``generator`` is accepted and unused.

        ``memory_format`` (``torch.channels_last``) sets the output's layout: the subtraction
        writes into a tensor of that layout, so it costs no extra copy.
        """
        check_images(x, "Normalize", self.mean.shape[0])
        x = to_float(x)
        mean = self.mean.to(device=x.device, dtype=x.dtype)
        std = self.std.to(device=x.device, dtype=x.dtype)
        if memory_format is None:
            return (x - mean) / std
        out = torch.empty_like(x, memory_format=memory_format)
        return torch.sub(x, mean, out=out).div_(std)

    def extra_repr(self) -> str:
        mean = [round(v, 4) for v in self.mean.flatten().tolist()]
        std = [round(v, 4) for v in self.std.flatten().tolist()]
        return f"mean={mean}, std={std}"
