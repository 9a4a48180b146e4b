"""Base class of the batched ops: input checks, uint8 -> float, per-sample parameter draws."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spt_data.gpu._random import check_probability


def to_float(x: Tensor, memory_format: torch.memory_format | None = None) -> Tensor:
    """uint8 images -> float32 in [0, 1]; floating images are returned unchanged.

    With ``memory_format`` (e.g. ``torch.channels_last``) the result has that layout: the
    uint8 -> float conversion writes it directly, a float input is copied only when its
    layout differs.
    """
    if x.dtype == torch.uint8:
        layout = torch.preserve_format if memory_format is None else memory_format
        return x.to(torch.float32, memory_format=layout).div_(255.0)
    if not x.is_floating_point():
        raise TypeError(
            f"images have dtype {x.dtype}; the GPU ops take uint8 (0-255) or float (0-1) tensors."
        )
    return x if memory_format is None else x.contiguous(memory_format=memory_format)


def check_images(x: Tensor, op: str, channels: int | None = None) -> None:
    """Raise a clear error unless ``x`` is an NCHW batch (with ``channels`` channels if given)."""
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"{op} takes a batch of images of shape (N, C, H, W); got {shape}. "
            "Add a batch dimension with x.unsqueeze(0) for a single image."
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{op} needs {channels}-channel (RGB) images; got {x.shape[1]} channels in "
            f"shape {tuple(x.shape)}."
        )


class RandomOp(nn.Module):
    """A batched augmentation with an independent draw per sample.

    Subclasses implement ``sample_params(shape, device, generator)`` (a dict of per-sample
    tensors with leading dimension N, for images of ``shape`` (N, C, H, W)) and
    ``apply_params(x, params)`` (float images in [0, 1]). Calling the op draws the
    parameters and applies them; tests and users may call ``apply_params`` directly with
    explicit parameters.

    Args:
        p: Probability, per sample, that the op is applied.
        generator: Default ``torch.Generator`` for the draws; a ``generator=`` passed at
            call time takes precedence; with neither, the global RNG is used.
    """

    channels: int | None = None

    def __init__(self, p: float = 1.0, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability(p)
        self.generator = generator

    def sample_params(
        self, shape: torch.Size, device: torch.device, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Draw the per-sample parameters of a batch of images of ``shape`` (N, C, H, W)."""
        raise NotImplementedError

    def apply_params(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        """Apply explicit per-sample parameters to float images ``x`` (N, C, H, W)."""
        raise NotImplementedError

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment a batch (N, C, H, W), uint8 or float; returns float images."""
        check_images(x, type(self).__name__, self.channels)
        gen = generator if generator is not None else self.generator
        params = self.sample_params(x.shape, x.device, gen)
        return self.apply_params(to_float(x), params)

    def extra_repr(self) -> str:
        return f"p={self.p}"
