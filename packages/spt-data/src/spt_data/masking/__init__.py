"""Patch masks for masked-image and predictive pretraining, per sample or per batch.

Masks live on a patch grid ``(h, w)`` (a 224 px image with 16 px patches: ``(14, 14)``), are
flattened row-major like a ViT's patch tokens, and say True where a patch is masked (hidden
from the encoder). Every generator draws independently per sample, runs on any device with
torch only, and takes an optional seeded ``torch.Generator``:

- :class:`RandomMask` (MAE): exactly ``round(ratio * N)`` random patches per sample.
- :class:`BlockMask` (BEiT, iBOT): a union of random rectangles up to a target fraction, which
  may be drawn per sample from a range, on a random share of the samples.
- :class:`MultiBlockMask` (I-JEPA): a context block and several target blocks kept out of
  it, as index lists that stack over the batch, with their boolean masks;
  :class:`MultiBlockMaskCollator` makes them in the DataLoader's ``collate_fn``.

``RandomMask`` and ``BlockMask`` are also per-sample transforms: called on a sample dict they
add ``"mask"`` ``(N,)``, which the default collate stacks into ``(B, N)``. On the device,
call ``generate(batch_size, device=..., generator=...)``.

Examples:
    >>> import torch
    >>> from spt_data import masking
    >>> ibot = masking.BlockMask(14, ratio=(0.1, 0.5), mask_probability=0.5)
    >>> ibot.generate(4, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 196])
"""

from spt_data.masking._base import PatchMask
from spt_data.masking.block import BlockMask
from spt_data.masking.collate import MultiBlockMaskCollator
from spt_data.masking.multi_block import MultiBlockMask
from spt_data.masking.random_mask import RandomMask

__all__ = ["BlockMask", "MultiBlockMask", "MultiBlockMaskCollator", "PatchMask", "RandomMask"]
