"""SwAVLoss against the swapped-prediction formula of the paper; the Prototypes layer."""

from __future__ import annotations

import copy
import doctest
import importlib
import math

import pytest
import torch
from torch import Tensor

from spt_losses import Prototypes, SwAVLoss


def reference_codes(scores: Tensor, epsilon: float, iterations: int) -> Tensor:
    """Sinkhorn-Knopp on an (N, K) tensor with loops over Python floats."""
    n, k = scores.shape
    q = [[math.exp(scores[b, j].item() / epsilon) for b in range(n)] for j in range(k)]
    total = sum(sum(row) for row in q)
    q = [[x / total for x in row] for row in q]
    for _ in range(iterations):
        for j in range(k):
            row_sum = sum(q[j])
            q[j] = [x / row_sum / k for x in q[j]]
        for b in range(n):
            col_sum = sum(q[j][b] for j in range(k))
            for j in range(k):
                q[j][b] = q[j][b] / col_sum / n
    return torch.tensor([[q[j][b] * n for j in range(k)] for b in range(n)], dtype=torch.float64)


def reference_swav(
    scores: list[Tensor],
    n_global: int,
    temperature: float,
    queues: list[Tensor] | None = None,
) -> Tensor:
    """sum_i sum_{v != i} -mean_b sum_k q_i log softmax(scores_v / T) / (V - 1) / n_global."""
    batch, k = scores[0].shape
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n_global):
        everything = scores[i].detach()
        if queues is not None:  # the queue's scores take part in the normalisation only
            everything = torch.cat([queues[i], everything])
        q = reference_codes(everything, 0.05, 3)[-batch:]
        sub = torch.zeros((), dtype=torch.float64)
        for v, s in enumerate(scores):
            if v == i:
                continue
            for b in range(batch):
                log_norm = torch.log(sum(torch.exp(s[b, j] / temperature) for j in range(k)))
                for j in range(k):
                    sub = sub - q[b, j] * (s[b, j] / temperature - log_norm) / batch
        total = total + sub / (len(scores) - 1)
    return total / n_global


def _scores(n_views: int, batch: int = 5, k: int = 4, seed: int = 0) -> list[Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, k, generator=gen, dtype=torch.float64).mul(0.3).requires_grad_()
        for _ in range(n_views)
    ]


@pytest.mark.parametrize(("n_global", "n_local"), [(2, 0), (2, 2), (1, 2)])
def test_swav_loss_matches_paper_formula(n_global: int, n_local: int) -> None:
    scores = _scores(n_global + n_local)
    ref_scores = [s.detach().clone().requires_grad_() for s in scores]
    loss = SwAVLoss(temperature=0.1)(scores, n_global_views=n_global)
    expected = reference_swav(ref_scores, n_global, 0.1)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    loss.backward()
    expected.backward()
    for s, r in zip(scores, ref_scores, strict=True):
        # with one global crop, crop 0 only gives codes: no gradient reaches it
        s_grad = torch.zeros_like(s) if s.grad is None else s.grad
        r_grad = torch.zeros_like(r) if r.grad is None else r.grad
        torch.testing.assert_close(s_grad, r_grad, rtol=1e-10, atol=1e-10)
    assert (scores[0].grad is None) == (n_global == 1)


def test_swav_loss_with_queue_matches_paper_formula() -> None:
    scores = _scores(4, seed=1)
    gen = torch.Generator().manual_seed(2)
    queues = [0.3 * torch.randn(6, 4, generator=gen, dtype=torch.float64) for _ in range(2)]
    ref_scores = [s.detach().clone().requires_grad_() for s in scores]
    loss = SwAVLoss()(scores, queue_scores=queues)
    expected = reference_swav(ref_scores, 2, 0.1, queues=queues)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    without_queue = SwAVLoss()(scores)
    assert not torch.allclose(loss, without_queue)  # the queue changes the codes
    loss.backward()
    expected.backward()
    for s, r in zip(scores, ref_scores, strict=True):
        assert s.grad is not None
        assert r.grad is not None
        torch.testing.assert_close(s.grad, r.grad, rtol=1e-10, atol=1e-10)


def test_swav_loss_computes_low_precision_in_float32() -> None:
    scores = [s.detach().bfloat16() for s in _scores(3)]
    assert SwAVLoss()(scores).dtype == torch.float32


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        ([torch.zeros(4, 3)], {}, "at least two crops"),
        ([torch.zeros(4, 3)] * 2, {"n_global_views": 3}, r"n_global_views must be in \[1, 2\]"),
        ([torch.zeros(4, 3), torch.zeros(4, 2)], {}, r"scores\[1\] must have the shape"),
        ([torch.zeros(4, 3)] * 3, {"queue_scores": [torch.zeros(2, 3)]}, "one \\(Q, K\\) tensor"),
    ],
)
def test_swav_loss_rejects_bad_input(
    scores: list[Tensor], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SwAVLoss()(scores, **kwargs)  # type: ignore[arg-type]


def _train(prototypes: Prototypes, steps: int, **sgd: float) -> list[Tensor]:
    """SGD steps on a loss of the scores; the weights after each step."""
    optimizer = torch.optim.SGD(prototypes.parameters(), lr=0.5, **sgd)
    prototypes.follow(optimizer)
    gen = torch.Generator().manual_seed(0)
    seen = []
    for _ in range(steps):
        z = torch.randn(8, prototypes.dim, generator=gen)
        prototypes(z).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        seen.append(prototypes.weight.detach().clone())
    return seen


def test_prototypes_are_normalised_when_followed_and_after_every_step() -> None:
    prototypes = Prototypes(6, num_prototypes=5, freeze_iterations=0)
    assert not torch.allclose(prototypes.weight.norm(dim=1), torch.ones(5))
    for weight in _train(prototypes, 3):
        torch.testing.assert_close(weight.norm(dim=1), torch.ones(5))


def test_prototypes_do_not_move_while_frozen_even_with_weight_decay_and_momentum() -> None:
    prototypes = Prototypes(6, num_prototypes=5, freeze_iterations=2)
    prototypes.normalize_()
    start = prototypes.weight.detach().clone()
    seen = _train(prototypes, 4, momentum=0.9, weight_decay=0.1)
    torch.testing.assert_close(seen[0], start, rtol=0, atol=1e-7)
    torch.testing.assert_close(seen[1], start, rtol=0, atol=1e-7)
    assert not torch.allclose(seen[2], start)
    assert int(prototypes.num_steps) == 4
    assert not prototypes.frozen


def test_prototypes_step_counter_is_checkpointed_and_resumes_the_freeze() -> None:
    trained = Prototypes(6, num_prototypes=5, freeze_iterations=3)
    _train(trained, 2)
    assert "num_steps" in trained.state_dict()
    resumed = Prototypes(6, num_prototypes=5, freeze_iterations=3)
    resumed.load_state_dict(trained.state_dict())
    assert resumed.frozen  # one frozen step left
    start = resumed.weight.detach().clone()
    seen = _train(resumed, 2)
    torch.testing.assert_close(seen[0], start, rtol=0, atol=1e-7)
    assert not torch.allclose(seen[1], start)


def test_prototypes_follow_one_optimizer_and_copies_follow_none() -> None:
    prototypes = Prototypes(4, num_prototypes=3)
    optimizer = torch.optim.SGD(prototypes.parameters(), lr=0.1)
    prototypes.follow(optimizer)
    prototypes.follow(optimizer)  # idempotent: one pair of hooks
    assert len(prototypes._hooks) == 2
    assert prototypes.followed is optimizer
    assert copy.deepcopy(prototypes).followed is None


def test_prototypes_reject_bad_sizes() -> None:
    with pytest.raises(ValueError, match="num_prototypes=0"):
        Prototypes(4, num_prototypes=0)
    with pytest.raises(ValueError, match="freeze_iterations must be >= 0; got -1"):
        Prototypes(4, freeze_iterations=-1)


@pytest.mark.parametrize("name", ["spt_losses.swav", "spt_losses.sinkhorn"])
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
