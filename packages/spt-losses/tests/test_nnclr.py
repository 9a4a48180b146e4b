"""NNCLR: nearest neighbours by cosine similarity and the loss of Eq. 2, in float64."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from spt_losses import NNCLRLoss, nearest_neighbours

TOL = {"rtol": 1e-10, "atol": 1e-10}


def _unit(x: Tensor) -> Tensor:
    return x / x.norm()


def _nn_formula(z: Tensor, support: Tensor) -> Tensor:
    """NN(z, Q): the support element of largest cosine similarity, one row at a time."""
    rows = []
    for zi in z.detach():
        scores = [float(_unit(zi) @ _unit(s)) for s in support]
        rows.append(support[max(range(len(scores)), key=scores.__getitem__)])
    return torch.stack(rows).detach()


def _nnclr_formula(u: Tensor, v: Tensor, t: float) -> Tensor:
    """Eq. 2: -log exp(NN(z_i).z+_i / t) / sum_k exp(NN(z_i).z+_k / t), mean over i."""
    total = u.new_zeros(())
    for i in range(u.shape[0]):
        ui = _unit(u[i])
        terms = [torch.exp(ui @ _unit(v[k]) / t) for k in range(v.shape[0])]
        total = total - torch.log(terms[i] / sum(terms))
    return total / u.shape[0]


def test_nnclr_loss_matches_paper_formula() -> None:
    gen = torch.Generator().manual_seed(0)
    z1, z2, p1, p2 = (
        torch.randn(6, 5, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(4)
    )
    support = torch.randn(11, 5, generator=gen, dtype=torch.float64)
    loss_fn = NNCLRLoss(temperature=0.1)
    loss = (
        loss_fn(nearest_neighbours(z1, support), p2) + loss_fn(nearest_neighbours(z2, support), p1)
    ) / 2
    expected = (
        _nnclr_formula(_nn_formula(z1, support), p2, 0.1)
        + _nnclr_formula(_nn_formula(z2, support), p1, 0.1)
    ) / 2
    torch.testing.assert_close(loss, expected, **TOL)
    got = torch.autograd.grad(loss, [p1, p2])
    want = torch.autograd.grad(expected, [p1, p2])
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, **TOL)


def test_nearest_neighbour_is_by_cosine_not_euclidean_distance() -> None:
    support = torch.tensor([[10.0, 0.0], [0.5, 0.6]])
    z = torch.tensor([[1.0, 0.05]])  # closer to row 1 in distance, to row 0 in angle
    torch.testing.assert_close(nearest_neighbours(z, support), support[:1])


def test_nearest_neighbours_carry_no_gradient() -> None:
    z = torch.randn(3, 4, requires_grad=True)
    support = torch.randn(5, 4, requires_grad=True)
    assert not nearest_neighbours(z, support).requires_grad


def test_nearest_neighbours_need_a_non_empty_support_set() -> None:
    with pytest.raises(ValueError, match=r"non-empty .* got support \(0, 4\)"):
        nearest_neighbours(torch.randn(3, 4), torch.randn(0, 4))


def test_low_precision_inputs_are_reduced_in_float32() -> None:
    u, v = torch.randn(4, 8).half(), torch.randn(4, 8).half()
    assert NNCLRLoss(temperature=0.05)(u, v).dtype == torch.float32


def test_temperature_must_be_positive() -> None:
    with pytest.raises(ValueError, match="temperature must be > 0; got -1"):
        NNCLRLoss(temperature=-1)
