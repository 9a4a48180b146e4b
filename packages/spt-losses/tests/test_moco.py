"""MoCo v2 and v3 losses equal the formulas of their papers, written slowly, in float64."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from spt_losses import MoCoV2Loss, MoCoV3Loss

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _unit(x: Tensor) -> Tensor:
    return x / x.norm()


def _moco_v2_formula(q: Tensor, k: Tensor, queue: Tensor, t: float) -> Tensor:
    """He et al. Eq. 1: -log exp(q.k+/t) / (exp(q.k+/t) + sum over the queue of exp(q.n/t))."""
    total = q.new_zeros(())
    for i in range(q.shape[0]):
        qi = _unit(q[i])
        positive = torch.exp(qi @ _unit(k[i]) / t)
        negatives = sum((torch.exp(qi @ _unit(n) / t) for n in queue), q.new_zeros(()))
        total = total - torch.log(positive / (positive + negatives))
    return total / q.shape[0]


def _moco_v3_ctr(q: Tensor, k: Tensor, t: float) -> Tensor:
    """The paper's pseudo-code: 2t * CrossEntropy(q @ k.T / t, arange(N)), written out."""
    total = q.new_zeros(())
    for i in range(q.shape[0]):
        qi = _unit(q[i])
        logits = [qi @ _unit(k[j]) / t for j in range(k.shape[0])]
        total = total - (logits[i] - torch.log(sum(torch.exp(x) for x in logits)))
    return 2 * t * total / q.shape[0]


def _inputs(*shapes: tuple[int, ...]) -> list[Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=gen, dtype=torch.float64, requires_grad=True) for s in shapes]


def _grads(loss: Tensor, inputs: list[Tensor]) -> tuple[Tensor, ...]:
    return torch.autograd.grad(loss, inputs)


def test_moco_v2_loss_matches_paper_formula() -> None:
    inputs = _inputs((6, 5), (6, 5), (9, 5))
    loss = MoCoV2Loss(temperature=0.2)(*inputs)
    expected = _moco_v2_formula(*inputs, t=0.2)
    torch.testing.assert_close(loss, expected, **TOL)
    for got, want in zip(_grads(loss, inputs), _grads(expected, inputs), strict=True):
        torch.testing.assert_close(got, want, **TOL)


def test_moco_v2_loss_with_an_empty_queue_has_only_the_positive() -> None:
    q, k = _inputs((4, 3), (4, 3))
    loss = MoCoV2Loss()(q, k, q.new_zeros(0, 3))
    torch.testing.assert_close(loss, q.new_zeros(()), rtol=0, atol=1e-15)


def test_moco_v3_loss_matches_paper_formula() -> None:
    q1, q2, k1, k2 = _inputs((6, 5), (6, 5), (6, 5), (6, 5))
    loss_fn = MoCoV3Loss(temperature=0.3)
    loss = loss_fn(q1, k2) + loss_fn(q2, k1)
    expected = _moco_v3_ctr(q1, k2, 0.3) + _moco_v3_ctr(q2, k1, 0.3)
    torch.testing.assert_close(loss, expected, **TOL)
    inputs = [q1, q2, k1, k2]
    for got, want in zip(_grads(loss, inputs), _grads(expected, inputs), strict=True):
        torch.testing.assert_close(got, want, **TOL)


def test_moco_v3_loss_of_identical_far_apart_pairs_is_near_zero() -> None:
    eye = torch.eye(4, dtype=torch.float64)
    assert MoCoV3Loss(temperature=0.05)(eye, eye) < 1e-6
    # all keys equal: every logit is the same, so the cross-entropy is log(N), scaled by 2t
    value = MoCoV3Loss(temperature=0.3)(eye, torch.full((4, 4), 0.5, dtype=torch.float64))
    torch.testing.assert_close(value, torch.tensor(2 * 0.3 * math.log(4), dtype=torch.float64))


@pytest.mark.parametrize("loss_cls", [MoCoV2Loss, MoCoV3Loss])
def test_low_precision_inputs_are_reduced_in_float32(loss_cls: type) -> None:
    q, k, queue = (torch.randn(4, 8).bfloat16() for _ in range(3))
    args = (q, k, queue) if loss_cls is MoCoV2Loss else (q, k)
    assert loss_cls(temperature=0.05)(*args).dtype == torch.float32


@pytest.mark.parametrize("loss_cls", [MoCoV2Loss, MoCoV3Loss])
def test_temperature_must_be_positive(loss_cls: type) -> None:
    with pytest.raises(ValueError, match="temperature must be > 0; got 0"):
        loss_cls(temperature=0)


def test_moco_v2_rejects_a_queue_of_another_width() -> None:
    q, k = torch.randn(4, 8), torch.randn(4, 8)
    with pytest.raises(ValueError, match=r"queue \(16, 3\) and query \(4, 8\)"):
        MoCoV2Loss()(q, k, torch.randn(16, 3))


def test_moco_v3_rejects_queries_and_keys_of_different_shapes() -> None:
    with pytest.raises(ValueError, match=r"query and key must have the same shape"):
        MoCoV3Loss()(torch.randn(4, 8), torch.randn(5, 8))
