"""``MultiViewGPUTransform``: one uint8 batch in, V independently augmented views out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from spt_data.gpu.compose import (
    GPUCompose,
    _Callable,
    image_of,
    in_memory_format,
    takes_generator,
)


class MultiViewGPUTransform(nn.Module):
    """Make V views of a batch, each with its own recipe and its own random draws.

    Args:
        transforms: One recipe per view (``GPUCompose`` or any module/callable on image
            batches), or a single recipe repeated ``n_views`` times.
        n_views: Number of views when ``transforms`` is a single recipe.
        key: Batch entry holding the images (N, C, H, W), usually uint8.
        generator: Default generator for every view's draws.
        memory_format: Layout of every view, e.g. ``torch.channels_last`` (see
            :class:`GPUCompose`; a view recipe ending with ``Normalize`` writes it at no extra
            copy). None: each recipe's own.

    Returns (on call):
        A list of V dicts; view ``v`` is the input batch with ``key`` replaced by recipe
        ``v`` applied to the original images. Other entries (``label``, ``sample_idx``,
        ...) are the same objects in every view. On a tensor, a list of V tensors.

    Examples:
        >>> views = MultiViewGPUTransform(GPUCompose(RandomHorizontalFlip()), n_views=2)
        >>> out = views({"image": torch.zeros(2, 3, 4, 4, dtype=torch.uint8), "label": [0, 1]})
        >>> len(out), out[1]["label"]
        (2, [0, 1])
    """

    def __init__(
        self,
        transforms: Sequence[nn.Module | Callable[[Tensor], Tensor]]
        | nn.Module
        | Callable[[Tensor], Tensor],
        n_views: int | None = None,
        key: str = "image",
        generator: torch.Generator | None = None,
        memory_format: torch.memory_format | None = None,
    ) -> None:
        super().__init__()
        if isinstance(transforms, (list, tuple)):
            if n_views is not None and n_views != len(transforms):
                raise ValueError(
                    f"n_views={n_views} but {len(transforms)} transforms were given; "
                    "leave n_views out when passing one transform per view."
                )
            recipes = list(transforms)
        else:
            if n_views is None or n_views < 1:
                raise ValueError(
                    f"n_views={n_views!r}: with a single transform pass n_views >= 1, "
                    "or pass a list with one transform per view."
                )
            recipes = [transforms] * n_views
        if not recipes:
            raise ValueError("transforms is empty; pass at least one view recipe.")
        for i, t in enumerate(recipes):
            if not callable(t):
                raise TypeError(f"view {i}: {type(t).__name__} is not callable.")
        self.views = nn.ModuleList(t if isinstance(t, nn.Module) else _Callable(t) for t in recipes)
        self.key = key
        self.generator = generator
        self.memory_format = memory_format

    @property
    def n_views(self) -> int:
        """Number of views produced per call."""
        return len(self.views)

    def _view(self, recipe: nn.Module, x: Tensor, generator: torch.Generator | None) -> Tensor:
        if isinstance(recipe, GPUCompose):
            return recipe.transform_images(x, generator, self.memory_format)
        if self.memory_format is not None:
            return in_memory_format(recipe, x, generator, self.memory_format)
        out: Tensor
        if generator is not None and takes_generator(recipe):
            out = recipe(x, generator=generator)
        else:
            out = recipe(x)
        return out

    def forward(self, batch: Any, generator: torch.Generator | None = None) -> list[Any]:
        """Augment one batch dict (or image tensor) into a list of V views."""
        gen = generator if generator is not None else self.generator
        if isinstance(batch, Tensor):
            return [self._view(recipe, batch, gen) for recipe in self.views]
        x = image_of(batch, self.key, "MultiViewGPUTransform")
        return [{**batch, self.key: self._view(recipe, x, gen)} for recipe in self.views]

    def extra_repr(self) -> str:
        return f"key={self.key!r}, n_views={self.n_views}"
