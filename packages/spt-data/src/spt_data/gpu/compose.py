"""``GPUCompose``: a chain of batched ops applied to one key of a batch dict."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from spt_data.gpu._base import RandomOp
from spt_data.gpu.normalize import Normalize, ToFloat


class _Callable(nn.Module):
    """Wrap a plain callable ``Tensor -> Tensor`` so it can sit in a ``ModuleList``."""

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def takes_generator(op: nn.Module) -> bool:
    """Whether ``op`` accepts ``generator=`` (our ops and composes do)."""
    return isinstance(op, (RandomOp, ToFloat, Normalize, GPUCompose))


def in_memory_format(
    op: nn.Module, x: Tensor, generator: torch.Generator | None, memory_format: torch.memory_format
) -> Tensor:
    """``op(x)`` with its output in ``memory_format``, written there directly when ``op`` can.

    ``Normalize`` and ``ToFloat`` (the usual last op of a recipe) write their output in that
    layout at no extra cost; after any other op the result is copied unless already in it.
    """
    out: Tensor
    if isinstance(op, (Normalize, ToFloat)):
        out = op(x, generator=generator, memory_format=memory_format)
        return out
    out = op(x, generator=generator) if generator is not None and takes_generator(op) else op(x)
    return out.contiguous(memory_format=memory_format)


def image_of(batch: Mapping[str, Any], key: str, owner: str) -> Tensor:
    """``batch[key]`` as a tensor, or a clear error naming the keys present."""
    if not isinstance(batch, Mapping):
        raise TypeError(
            f"{owner} takes a batch dict (or an image tensor); got {type(batch).__name__}."
        )
    if key not in batch:
        raise KeyError(
            f"{owner}(key={key!r}): the batch has no {key!r}; its keys are {sorted(batch)}. "
            "Pass key= the name of the image entry."
        )
    x = batch[key]
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{owner}: batch[{key!r}] is a {type(x).__name__}; the GPU ops need a tensor "
            "(N, C, H, W). Collate images into one tensor (spt_data.gpu.uint8_loader does)."
        )
    return x


class GPUCompose(nn.Module):
    """Apply batched ops in order to ``batch[key]``; every other entry passes through.

    Args:
        *ops: Our ops (``RandomResizedCrop``, ``ColorJitter``, ...) or any module or
            callable mapping an image batch to an image batch.
        key: Batch entry holding the images (N, C, H, W), uint8 or float.
        generator: Default generator for every op's draws (overridden by ``generator=`` at
            call time, and overriding the ops' own generators).
        memory_format: Layout of the output images, e.g. ``torch.channels_last`` for a
            convolutional backbone that runs channels-last (``spt.Module(channels_last=True)``
            sets it on the data's transform); a recipe ending with ``Normalize`` or
            ``ToFloat`` writes it at no extra copy. None: the layout the ops produce.

    Called on a dict it returns a new dict (the input is not modified) with ``key``
    replaced; called on a tensor it returns the augmented tensor; on a list of view dicts
    it augments each.

    Examples:
        >>> aug = GPUCompose(RandomHorizontalFlip(), ToFloat())
        >>> out = aug({"image": torch.zeros(2, 3, 4, 4, dtype=torch.uint8), "label": [0, 1]})
        >>> out["image"].dtype, out["label"]
        (torch.float32, [0, 1])
    """

    def __init__(
        self,
        *ops: nn.Module | Callable[[Tensor], Tensor],
        key: str = "image",
        generator: torch.Generator | None = None,
        memory_format: torch.memory_format | None = None,
    ) -> None:
        super().__init__()
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = tuple(ops[0])
        for i, op in enumerate(ops):
            if not callable(op):
                raise TypeError(f"GPUCompose op {i} is a {type(op).__name__}, not callable.")
        self.ops = nn.ModuleList(op if isinstance(op, nn.Module) else _Callable(op) for op in ops)
        self.key = key
        self.generator = generator
        self.memory_format = memory_format

    def transform_images(
        self,
        x: Tensor,
        generator: torch.Generator | None = None,
        memory_format: torch.memory_format | None = None,
    ) -> Tensor:
        """Run the ops on an image batch (N, C, H, W); ``memory_format`` overrides the own."""
        gen = generator if generator is not None else self.generator
        layout = memory_format if memory_format is not None else self.memory_format
        ops = list(self.ops)
        last = ops.pop() if layout is not None and ops else None
        for op in ops:
            x = op(x, generator=gen) if gen is not None and takes_generator(op) else op(x)
        if last is not None and layout is not None:
            x = in_memory_format(last, x, gen, layout)
        elif layout is not None:
            x = x.contiguous(memory_format=layout)
        return x

    def forward(self, batch: Any, generator: torch.Generator | None = None) -> Any:
        """Augment a batch dict, a list of view dicts, or an image tensor."""
        if isinstance(batch, Tensor):
            return self.transform_images(batch, generator)
        if isinstance(batch, list):
            return [self.forward(view, generator) for view in batch]
        x = image_of(batch, self.key, "GPUCompose")
        return {**batch, self.key: self.transform_images(x, generator)}

    def extra_repr(self) -> str:
        layout = "" if self.memory_format is None else f", memory_format={self.memory_format}"
        return f"key={self.key!r}{layout}"
