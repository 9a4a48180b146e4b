"""Batched ``RandomHorizontalFlip``: each sample mirrored left-right with probability ``p``."""

from __future__ import annotations

import torch
from torch import Tensor

from spt_data.gpu._base import RandomOp, check_images, to_float
from spt_data.gpu._random import bernoulli


class RandomHorizontalFlip(RandomOp):
    """Mirror each image left-right with probability ``p``, independently per sample.

    Params: ``flip``, a bool tensor (N,).

    Examples:
        >>> x = torch.arange(4.0).view(1, 1, 1, 4)
        >>> RandomHorizontalFlip(p=1.0)(x).flatten().tolist()
        [3.0, 2.0, 1.0, 0.0]
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        super().__init__(p, generator)

    def sample_params(
        self, shape: torch.Size, device: torch.device, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        return {"flip": bernoulli(int(shape[0]), self.p, device, generator)}

    def apply_params(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        return torch.where(params["flip"][:, None, None, None], x.flip(-1), x)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_images(x, "RandomHorizontalFlip")
        gen = generator if generator is not None else self.generator
        return self.apply_params(to_float(x), self.sample_params(x.shape, x.device, gen))
