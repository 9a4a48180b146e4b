"""Gathering every rank's features and keeping each sample once (torch only, no Lightning)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Features", "deduplicate", "gather_features"]


@dataclass
class Features:
    """What :func:`extract_features` returns, in ``sample_idx`` order.

    Attributes:
        embedding: ``(N, D)`` float32 outputs of the network.
        label: ``(N,)`` int64 labels.
        sample_idx: ``(N,)`` int64 dataset indices, sorted, each once.
    """

    embedding: torch.Tensor
    label: torch.Tensor
    sample_idx: torch.Tensor


def deduplicate(sample_idx: torch.Tensor, *values: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Keep one row per sample index, sorted by index.

    A ``DistributedSampler`` pads the last rank with repeated samples so that every rank gets
    as many; gathering every rank's rows therefore holds some samples twice.

    Args:
        sample_idx: ``(M,)`` indices, possibly repeated.
        values: Tensors with ``M`` rows each.

    Returns:
        ``(sample_idx, *values)`` restricted to the first row of each index, sorted by index.
    """
    order = torch.argsort(sample_idx, stable=True)
    sorted_idx = sample_idx[order]
    first = torch.ones_like(sorted_idx, dtype=torch.bool)
    first[1:] = sorted_idx[1:] != sorted_idx[:-1]
    keep = order[first]
    return (sample_idx[keep], *(v[keep] for v in values))


def gather_features(trainer: Any, parts: Sequence[dict[str, torch.Tensor]]) -> Features:
    """Concatenate this rank's predictions, gather every rank's and keep each sample once."""
    local = {k: torch.cat([p[k] for p in parts]) for k in ("embedding", "label", "sample_idx")}
    if trainer.world_size > 1:  # ranks may hold different counts: pad to the largest, gather, trim
        strategy = trainer.strategy
        device = strategy.root_device
        count = torch.tensor([len(local["sample_idx"])], device=device)
        counts = strategy.all_gather(count).reshape(-1).tolist()
        most = max(counts)
        gathered = {}
        for key, value in local.items():
            padded = torch.zeros((most, *value.shape[1:]), dtype=value.dtype, device=device)
            padded[: len(value)] = value.to(device)
            every = strategy.all_gather(padded)  # (world, most, ...)
            gathered[key] = torch.cat([every[r, : counts[r]] for r in range(len(counts))]).cpu()
        local = gathered
    idx, emb, lab = deduplicate(
        local["sample_idx"].cpu(), local["embedding"].cpu(), local["label"].cpu()
    )
    return Features(embedding=emb, label=lab, sample_idx=idx)
