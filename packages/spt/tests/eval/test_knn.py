"""Offline kNN against a NumPy loop written from the protocol."""

from __future__ import annotations

import numpy as np
import torch

from spt.eval import Features, knn_scores


def _features(n: int, dim: int, classes: int, seed: int) -> Features:
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, classes, (n,), generator=g)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(99))
    embedding = centres[label] + 1.5 * torch.randn(n, dim, generator=g)
    return Features(embedding, label, torch.arange(n))


def _numpy_knn_top1(train: Features, test: Features, k: int, temperature: float) -> float:
    bank = train.embedding.double().numpy()
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    correct = 0
    for query, target in zip(test.embedding.double().numpy(), test.label.numpy(), strict=True):
        query = query / np.linalg.norm(query)
        sims = bank @ query
        nearest = np.argsort(-sims)[:k]
        votes: dict[int, float] = {}
        for j in nearest:
            label = int(train.label[j])
            votes[label] = votes.get(label, 0.0) + float(np.exp(sims[j] / temperature))
        correct += max(votes, key=lambda c: votes[c]) == int(target)
    return correct / len(test.label)


def test_knn_top1_matches_a_numpy_loop_for_every_k() -> None:
    train, test = _features(300, 16, 5, seed=0), _features(80, 16, 5, seed=1)
    result = knn_scores(train, test, k=(1, 10, 20, 100), temperature=0.07)
    for k in (1, 10, 20, 100):
        expected = _numpy_knn_top1(train, test, k, 0.07)
        assert abs(result["metrics"][f"knn/top1_k{k}"] - expected) < 1e-9


def test_knn_reports_every_k_of_the_default_table() -> None:
    train, test = _features(250, 8, 4, seed=2), _features(40, 8, 4, seed=3)
    result = knn_scores(train, test)
    assert result["k"] == [10, 20, 100, 200]
    assert sorted(result["metrics"]) == sorted(
        f"knn/top{t}_k{k}" for t in (1, 5) for k in (10, 20, 100, 200)
    )
    assert result["temperature"] == 0.07
