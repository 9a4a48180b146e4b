"""A collate function that adds I-JEPA's multi-block masks to each batch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch.utils.data import default_collate

from spt_data.masking.multi_block import MultiBlockMask

__all__ = ["MultiBlockMaskCollator"]


class MultiBlockMaskCollator:
    """Collate samples, then add the masks of :class:`MultiBlockMask` for the whole batch.

    I-JEPA's masks share their block sizes over a batch, so they are made where the batch is
    formed: in the DataLoader's ``collate_fn`` (as the I-JEPA authors do), in the worker
    processes. The draws use the global torch RNG, which the DataLoader seeds per worker, so
    workers make different masks and ``torch.manual_seed`` reproduces a run.

    Args:
        mask_generator: The :class:`MultiBlockMask` (grid size, scales, counts).
        collate_fn: Collate function of the samples (default: torch's ``default_collate``);
            it must return a dict.

    Returns (on call):
        The collated batch dict with the four keys of :class:`MultiBlockMask` added:
        ``context_idx`` ``(B, K_ctx)``, ``context_mask`` ``(B, N)``, ``target_idx``
        ``(M, B, K_tgt)`` and ``target_mask`` ``(M, B, N)``.

    Raises:
        TypeError: ``mask_generator`` is not a ``MultiBlockMask``; (on call) the collated
            batch is not a dict.
        KeyError: (on call) the batch already has one of the mask keys.

    Examples:
        >>> from spt_data.masking import MultiBlockMask, MultiBlockMaskCollator
        >>> collate = MultiBlockMaskCollator(MultiBlockMask((8, 8), min_context=4))
        >>> batch = collate([{"image": torch.zeros(3, 32, 32), "label": i} for i in range(5)])
        >>> batch["image"].shape, batch["context_idx"].shape[0], batch["target_mask"].shape
        (torch.Size([5, 3, 32, 32]), 5, torch.Size([4, 5, 64]))
    """

    def __init__(
        self,
        mask_generator: MultiBlockMask,
        collate_fn: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        if not isinstance(mask_generator, MultiBlockMask):
            raise TypeError(
                "MultiBlockMaskCollator: mask_generator must be a MultiBlockMask, got "
                f"{type(mask_generator).__name__}"
            )
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(
                f"MultiBlockMaskCollator: collate_fn must be callable, got {collate_fn!r}"
            )
        self.mask_generator = mask_generator
        self.collate_fn = collate_fn if collate_fn is not None else default_collate

    def __call__(self, samples: Sequence[Any]) -> dict[str, Any]:
        batch = self.collate_fn(list(samples))
        if not isinstance(batch, Mapping):
            raise TypeError(
                "MultiBlockMaskCollator: the collated batch is a "
                f"{type(batch).__name__}, not a dict; I-JEPA takes one view per sample: give "
                "the dataset a single-view transform (not a MultiViewTransform)"
            )
        clash = sorted(set(batch) & set(MultiBlockMask.KEYS))
        if clash:
            raise KeyError(
                f"MultiBlockMaskCollator: the batch already has {clash}; the masks are written "
                f"to {list(MultiBlockMask.KEYS)}, rename those sample keys"
            )
        return {**batch, **self.mask_generator.generate(len(samples))}

    def __repr__(self) -> str:
        return f"MultiBlockMaskCollator({self.mask_generator!r})"
