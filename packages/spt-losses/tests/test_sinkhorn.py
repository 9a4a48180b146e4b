"""sinkhorn_knopp against the paper's algorithm written with loops over Python floats."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from spt_losses import sinkhorn_knopp


def reference_sinkhorn(
    scores: list[list[float]], epsilon: float, iterations: int
) -> list[list[float]]:
    """SwAV's Sinkhorn-Knopp on an (N, K) list of lists: the codes, one row per sample."""
    n, k = len(scores), len(scores[0])
    q = [[math.exp(scores[b][j] / epsilon) for b in range(n)] for j in range(k)]  # (K, N)
    total = sum(sum(row) for row in q)
    q = [[x / total for x in row] for row in q]
    for _ in range(iterations):
        for j in range(k):  # every prototype gets mass 1/K
            row_sum = sum(q[j])
            q[j] = [x / row_sum / k for x in q[j]]
        for b in range(n):  # every sample gets mass 1/N
            col_sum = sum(q[j][b] for j in range(k))
            for j in range(k):
                q[j][b] = q[j][b] / col_sum / n
    return [[q[j][b] * n for j in range(k)] for b in range(n)]


def _scores(n: int, k: int, seed: int, scale: float = 0.5) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, k, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize(("epsilon", "iterations"), [(0.05, 3), (0.1, 1), (0.5, 7)])
def test_sinkhorn_matches_paper_algorithm(epsilon: float, iterations: int) -> None:
    scores = _scores(6, 5, seed=0)
    codes = sinkhorn_knopp(scores, epsilon, iterations)
    expected = torch.tensor(
        reference_sinkhorn(scores.tolist(), epsilon, iterations), dtype=torch.float64
    )
    assert codes.dtype == torch.float64
    torch.testing.assert_close(codes, expected, rtol=1e-10, atol=1e-12)


def test_sinkhorn_with_shared_scores_matches_the_concatenated_batch() -> None:
    scores, queue = _scores(4, 5, seed=1), _scores(6, 5, seed=2)
    codes = sinkhorn_knopp(scores, 0.05, 3, shared_scores=queue)
    everything = reference_sinkhorn(torch.cat([queue, scores]).tolist(), 0.05, 3)
    torch.testing.assert_close(
        codes, torch.tensor(everything[6:], dtype=torch.float64), rtol=1e-10, atol=1e-12
    )


def test_sinkhorn_with_an_empty_queue_equals_no_queue() -> None:
    scores = _scores(4, 5, seed=3)
    empty = torch.zeros(0, 5, dtype=torch.float64)
    torch.testing.assert_close(
        sinkhorn_knopp(scores, shared_scores=empty), sinkhorn_knopp(scores), rtol=0, atol=0
    )


def test_codes_are_distributions_that_split_the_batch_evenly_at_convergence() -> None:
    codes = sinkhorn_knopp(_scores(12, 4, seed=4), epsilon=0.5, iterations=200)
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(12, dtype=torch.float64))
    torch.testing.assert_close(codes.sum(dim=0), torch.full((4,), 3.0, dtype=torch.float64))


def test_sinkhorn_does_not_overflow_for_large_scores_in_float32() -> None:
    scores = (6.0 + _scores(8, 5, seed=5)).float()  # exp(scores / 0.05) > 1e50 overflows float32
    assert not torch.isfinite(torch.exp(scores / 0.05)).all()
    codes = sinkhorn_knopp(scores)
    assert codes.dtype == torch.float32
    assert torch.isfinite(codes).all()
    expected = torch.tensor(
        reference_sinkhorn(scores.double().tolist(), 0.05, 3), dtype=torch.float64
    )
    torch.testing.assert_close(codes.double(), expected, rtol=1e-4, atol=1e-6)


def test_sinkhorn_computes_half_precision_scores_in_float32() -> None:
    assert sinkhorn_knopp(_scores(4, 3, seed=6).half()).dtype == torch.float32


def test_sinkhorn_builds_targets_without_gradient() -> None:
    scores = _scores(4, 3, seed=7).requires_grad_()
    assert not sinkhorn_knopp(scores).requires_grad


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 0.0}, "epsilon must be > 0; got 0.0"),
        ({"iterations": 0}, "iterations must be an int >= 1; got 0"),
        ({"shared_scores": torch.zeros(2, 4)}, "K = 3 columns"),
    ],
)
def test_sinkhorn_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sinkhorn_knopp(torch.zeros(4, 3), **kwargs)  # type: ignore[arg-type]


def test_sinkhorn_rejects_scores_that_are_not_a_matrix() -> None:
    with pytest.raises(ValueError, match=r"scores must have shape \(B, K\)"):
        sinkhorn_knopp(torch.zeros(4))
