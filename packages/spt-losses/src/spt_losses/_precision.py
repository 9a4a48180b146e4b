"""The dtype the losses compute in: the precision of their inputs, at least float32.

`torch.promote_types(x.dtype, torch.float32)` over the inputs: bf16 and fp16 embeddings
(from a model under autocast, or cast by hand) are reduced in float32, where low
temperatures and squared statistics do not overflow; float32 stays float32; float64
stays float64, so a float64 loss equals its formula to float64 rounding and passes
`torch.autograd.gradcheck`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """Promotion of the tensors' dtypes and float32.

    Args:
        *tensors: the floating-point inputs of a loss.

    Returns:
        float32 for bf16, fp16 and float32 inputs; float64 when any input is float64.
    """
    dtype = torch.float32
    for x in tensors:
        dtype = torch.promote_types(dtype, x.dtype)
    return dtype
