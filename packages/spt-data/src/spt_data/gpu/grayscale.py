"""Batched ``RandomGrayscale``: luma of each selected sample, repeated on 3 channels."""

from __future__ import annotations

import torch
from torch import Tensor

from spt_data.gpu._base import RandomOp
from spt_data.gpu._random import bernoulli

# ITU-R 601-2 luma weights, as torchvision's rgb_to_grayscale
_LUMA = (0.2989, 0.587, 0.114)


def rgb_to_gray(x: Tensor) -> Tensor:
    """Luma of RGB images (N, 3, H, W) -> (N, 1, H, W)."""
    r, g, b = x.unbind(dim=1)
    return (r * _LUMA[0] + g * _LUMA[1] + b * _LUMA[2]).unsqueeze(1)


class RandomGrayscale(RandomOp):
    """Convert each RGB image to grayscale (kept on 3 channels) with probability ``p``.

    Params: ``gray``, a bool tensor (N,).

    Examples:
        >>> RandomGrayscale(p=1.0)(torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 3, 8, 8])
    """

    channels = 3

    def __init__(self, p: float = 0.1, generator: torch.Generator | None = None) -> None:
        super().__init__(p, generator)

    def sample_params(
        self, shape: torch.Size, device: torch.device, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        return {"gray": bernoulli(int(shape[0]), self.p, device, generator)}

    def apply_params(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        return torch.where(params["gray"][:, None, None, None], rgb_to_gray(x).expand_as(x), x)
