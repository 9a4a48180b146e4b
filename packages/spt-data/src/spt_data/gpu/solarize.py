"""Batched ``RandomSolarize``: invert pixels at or above a threshold, per selected sample."""

from __future__ import annotations

import torch
from torch import Tensor

from spt_data.gpu._base import RandomOp
from spt_data.gpu._random import bernoulli


class RandomSolarize(RandomOp):
    """Replace every pixel ``v >= threshold`` by ``1 - v``, for each sample with probability ``p``.

    Args:
        threshold: On the [0, 1] scale (uint8 inputs are converted to [0, 1] first, so
            ``threshold=0.5`` is the CPU transform's 128 / 255 up to rounding).
        p: Probability per sample.
        generator: Default generator for the draws.

    Params: ``solarize``, a bool tensor (N,).

    Examples:
        >>> RandomSolarize(0.5, p=1.0)(torch.tensor([0.2, 0.7]).view(1, 1, 1, 2)).flatten()
        tensor([0.2000, 0.3000])
    """

    def __init__(
        self, threshold: float, p: float = 0.5, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(p, generator)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(
                f"threshold={threshold!r} is on the [0, 1] scale; for a uint8 threshold t "
                "pass t / 255."
            )
        self.threshold = float(threshold)

    def sample_params(
        self, shape: torch.Size, device: torch.device, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        return {"solarize": bernoulli(int(shape[0]), self.p, device, generator)}

    def apply_params(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        mask = (x >= self.threshold) & params["solarize"][:, None, None, None]
        return torch.where(mask, 1.0 - x, x)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, p={self.p}"
