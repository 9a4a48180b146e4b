"""Shared plumbing of the forward functions: views, batched embedding, outputs for callbacks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


def as_views(batch: Any, method: str) -> list[dict[str, Any]]:
    """A training batch as a list of view dicts: a list stays a list, a dict is one view."""
    if isinstance(batch, dict):
        return [batch]
    if isinstance(batch, (list, tuple)) and batch and all(isinstance(v, dict) for v in batch):
        return list(batch)
    raise ValueError(
        f"{method}: batch must be a dict or a list of view dicts, got {type(batch).__name__}; "
        "wrap your dataset with spt.data.FromTorchDataset so samples are dicts"
    )


def component(module: Any, name: str, method: str) -> Any:
    """``getattr(module, name)`` with an error that says how to pass the component."""
    value = getattr(module, name, None)
    if value is None:
        raise AttributeError(
            f"{method}: the module has no {name!r}; pass it to spt.Module({name}=...)"
        )
    return value


def encode_views(
    encoder: Callable[[torch.Tensor], torch.Tensor], images: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """Encode each view, batching consecutive views of the same shape into one call."""
    out: list[torch.Tensor] = []
    start = 0
    while start < len(images):
        end = start + 1
        while end < len(images) and images[end].shape == images[start].shape:
            end += 1
        group = images[start:end]
        encoded = encoder(torch.cat(list(group)) if len(group) > 1 else group[0])
        out.extend(encoded.chunk(len(group)) if len(group) > 1 else [encoded])
        start = end
    return out


def split_projections(
    projections: list[torch.Tensor], views: list[dict[str, Any]], method: str
) -> list[torch.Tensor]:
    """One tensor per view: multi-view batches as they are; a dict folded by ``sample_idx``."""
    if len(projections) > 1:
        return projections
    if "sample_idx" not in views[0]:
        raise ValueError(
            f"{method}: a single dict batch needs 'sample_idx' to find its views; use "
            "MultiViewTransform or RepeatedRandomSampler to give each sample two views"
        )
    from spt_data import fold_views

    folded = list(fold_views(projections[0], views[0]["sample_idx"]))
    if len(folded) < 2:
        raise ValueError(
            f"{method}: the batch holds one view per sample; the loss needs at least two "
            "(use MultiViewTransform or RepeatedRandomSampler)"
        )
    return folded


def base_outputs(views: list[dict[str, Any]], embeddings: list[torch.Tensor]) -> dict[str, Any]:
    """``embedding`` (all views stacked, (V*B, D)) and the matching ``label`` when present."""
    out: dict[str, Any] = {
        "embedding": torch.cat(embeddings) if len(embeddings) > 1 else embeddings[0]
    }
    if all("label" in v for v in views):
        labels = [torch.as_tensor(v["label"]) for v in views]
        out["label"] = torch.cat(labels) if len(labels) > 1 else labels[0]
    return out
