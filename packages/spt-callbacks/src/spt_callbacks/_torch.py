"""The private attribute of torch this package sets, behind one named function.

``tests/test_torch_internals.py`` checks it against the installed torch: a release that
renames the method fails there instead of silently bringing its cost back; a user's run on
such a release keeps the check and trains as before.
"""

from __future__ import annotations

import torch

__all__ = ["skip_graph_capture_check"]

_CHECK = "_accelerator_graph_capture_health_check"


def _no_check() -> None:
    return None


def skip_graph_capture_check(optimizer: torch.optim.Optimizer) -> bool:
    """Drop the CUDA-graph-capture check from ``optimizer.step`` when it updates CPU tensors only.

    ``step`` of Adam, AdamW and a few others starts with
    ``Optimizer._accelerator_graph_capture_health_check``: is an accelerator available, and
    is its current stream capturing a graph? Lightning sets
    ``PYTORCH_NVML_BASED_CUDA_CHECK=1``, under which a CUDA build of torch with no CUDA
    context (a machine without a GPU) answers the first question by loading NVML again on
    every call: about 0.1 ms of CPU time (0.25 ms of wall time) per step, a tenth of a small
    probe's step. A graph capture cannot record an update of CPU tensors, so there the check
    guards nothing.

    Args:
        optimizer: The optimizer, with its parameters where they will be trained.

    Returns:
        Whether the check was dropped (False when some parameter is not on the CPU, or when
        this torch has no such check).
    """
    if not hasattr(torch.optim.Optimizer, _CHECK):
        return False
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not all(p.device.type == "cpu" for p in params):
        return False
    setattr(optimizer, _CHECK, _no_check)  # an instance attribute: other optimizers keep it
    return True
