"""Offline kNN evaluation: cosine similarity, temperature-weighted votes (Wu et al. 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from spt.eval._gather import Features
from spt_callbacks import knn_predict

__all__ = ["DEFAULT_K", "knn_scores"]

DEFAULT_K = (10, 20, 100, 200)


def knn_scores(
    train: Features,
    test: Features,
    k: Sequence[int] = DEFAULT_K,
    temperature: float = 0.07,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Top-1 (and top-5) accuracy of a weighted kNN classifier for every ``k``.

    Each test feature's ``k`` nearest training features by cosine similarity ``s`` vote for
    their labels with weight ``exp(s / temperature)``, as in DINO's and solo-learn's kNN.

    Args:
        train: The bank (training features and labels).
        test: The queries.
        k: Numbers of neighbours (each clipped to the bank size).
        temperature: Temperature of the votes.
        num_classes: Number of classes (default: the largest label + 1).
        device: Where the similarities are computed.

    Returns:
        ``{"metrics": {"knn/top1_k{k}": ..., "knn/top5_k{k}": ...}, "k": [...],
        "temperature": ...}``.
    """
    classes = num_classes or int(max(train.label.max(), test.label.max())) + 1
    bank = train.embedding.to(device)
    queries = test.embedding.to(device)
    labels = train.label.to(device)
    target = test.label.to(device)
    metrics: dict[str, float] = {}
    for kk in k:
        scores = knn_predict(queries, bank, labels, classes, k=int(kk), temperature=temperature)
        top = scores.topk(min(5, classes), dim=1).indices  # (Q, 5)
        metrics[f"knn/top1_k{kk}"] = float((top[:, 0] == target).double().mean())
        metrics[f"knn/top5_k{kk}"] = float((top == target[:, None]).any(1).double().mean())
    return {"metrics": metrics, "k": [int(kk) for kk in k], "temperature": temperature}
