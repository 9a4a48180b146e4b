"""Validation of the batches and outputs that pass through :class:`spt_module.Module`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["describe", "prepare_batch", "require_loss"]


def describe(value: Any) -> str:
    """A short description of ``value`` for error messages (type, shape, element types)."""
    if isinstance(value, torch.Tensor):
        return f"Tensor of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in value[:3])
        more = ", ..." if len(value) > 3 else ""
        return f"{type(value).__name__} of {len(value)} [{inner}{more}]"
    if isinstance(value, Mapping):
        return f"{type(value).__name__} with keys {sorted(map(str, value))}"
    return type(value).__name__


def prepare_batch(batch: Any, batch_idx: int, stage: str) -> dict[str, Any] | list[dict[str, Any]]:
    """Check that ``batch`` is a dict or a list of view dicts and inject ``"batch_idx"``.

    Args:
        batch: What the DataLoader (and the GPU transform) produced.
        batch_idx: Index of the batch in the epoch; stored as ``batch["batch_idx"]`` (in
            every view of a multi-view batch).
        stage: ``"fit"``, ``"validate"``, ``"test"`` or ``"predict"`` (for the message).

    Returns:
        The batch (a dict, or a list of dicts).

    Raises:
        ValueError: If the batch is anything else.
    """
    if isinstance(batch, dict):
        batch["batch_idx"] = batch_idx
        return batch
    if isinstance(batch, Mapping):
        out = dict(batch)
        out["batch_idx"] = batch_idx
        return out
    if isinstance(batch, (list, tuple)) and batch and all(isinstance(v, Mapping) for v in batch):
        views = [v if isinstance(v, dict) else dict(v) for v in batch]
        for view in views:
            view["batch_idx"] = batch_idx
        return views
    raise ValueError(
        f"Module: the {stage} batch must be a dict (or a list of view dicts), got "
        f"{describe(batch)}. Make the dataset return dicts, e.g. "
        "spt_data.FromTorchDataset(dataset, names=['image', 'label'])."
    )


def require_loss(outputs: Any, stage: str = "fit") -> torch.Tensor:
    """Return ``outputs["loss"]``, or raise an error that names what ``forward`` returned.

    Raises:
        TypeError: If ``outputs`` is not a dict.
        ValueError: If it has no ``"loss"``.
    """
    if not isinstance(outputs, Mapping):
        raise TypeError(
            f"Module: forward(self, batch, {stage!r}) must return a dict, got {describe(outputs)}."
        )
    if "loss" not in outputs:
        raise ValueError(
            f"Module: forward(self, batch, {stage!r}) returned a dict without 'loss' "
            f"(keys: {sorted(map(str, outputs))}); in the fit stage it must hold the loss to "
            "optimize, e.g. out['loss'] = ... . Pass optim=False for an evaluation-only module."
        )
    loss = outputs["loss"]
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"Module: outputs['loss'] must be a Tensor, got {describe(loss)}.")
    return loss
