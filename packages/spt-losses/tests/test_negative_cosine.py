"""NegativeCosineSimilarity against an explicit per-sample formula."""

from __future__ import annotations

import pytest
import torch

from spt_losses import NegativeCosineSimilarity


def test_matches_reference_values_and_gradients() -> None:
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(6, 9, generator=gen, requires_grad=True)
    z = torch.randn(6, 9, generator=gen)
    p_ref = p.detach().double().requires_grad_()
    z_ref = z.double()

    total = torch.zeros((), dtype=torch.float64)
    for i in range(6):
        total = total - (p_ref[i] @ z_ref[i]) / (p_ref[i].norm() * z_ref[i].norm())
    expected = total / 6

    loss = NegativeCosineSimilarity()(p, z)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss, expected.float(), rtol=1e-5, atol=1e-5)
    assert p.grad is not None
    assert p_ref.grad is not None
    torch.testing.assert_close(p.grad, p_ref.grad.float(), rtol=1e-5, atol=1e-5)


def test_identical_inputs_give_minus_one() -> None:
    x = torch.randn(4, 8)
    torch.testing.assert_close(NegativeCosineSimilarity()(x, x), torch.tensor(-1.0))


def test_mismatched_shapes_name_both() -> None:
    with pytest.raises(ValueError, match=r"\(4, 8\) and \(4, 9\)"):
        NegativeCosineSimilarity()(torch.randn(4, 8), torch.randn(4, 9))


def test_wrong_rank_gives_the_shape() -> None:
    with pytest.raises(ValueError, match=r"p must have shape \(B, D\).*\(8,\)"):
        NegativeCosineSimilarity()(torch.randn(8), torch.randn(8))
