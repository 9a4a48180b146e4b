"""VICRegLoss against explicit loops over dimensions and samples."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from spt_losses import VICRegLoss


def reference_vicreg(
    x: Tensor, y: Tensor, sim: float, std: float, cov: float, eps: float
) -> Tensor:
    n, d = x.shape
    invariance = sum((x[i, j] - y[i, j]) ** 2 for i in range(n) for j in range(d)) / (n * d)

    def variance(z: Tensor) -> Tensor:
        terms = []
        for j in range(d):
            mean = sum(z[i, j] for i in range(n)) / n
            var = sum((z[i, j] - mean) ** 2 for i in range(n)) / (n - 1)
            terms.append(torch.clamp(1 - torch.sqrt(var + eps), min=0))
        return sum(terms) / d

    def covariance(z: Tensor) -> Tensor:
        means = [sum(z[i, j] for i in range(n)) / n for j in range(d)]
        total = torch.zeros((), dtype=z.dtype)
        for j in range(d):
            for k in range(d):
                if j != k:
                    c = sum((z[i, j] - means[j]) * (z[i, k] - means[k]) for i in range(n)) / (n - 1)
                    total = total + c**2
        return total / d

    var_term = (variance(x) + variance(y)) / 2
    cov_term = covariance(x) + covariance(y)
    return sim * invariance + std * var_term + cov * cov_term


@pytest.mark.parametrize(
    ("scale", "coeffs"), [(1.0, (25.0, 25.0, 1.0, 1e-4)), (0.3, (1.0, 2.0, 3.0, 1e-2))]
)
def test_matches_reference_values_and_gradients(
    scale: float, coeffs: tuple[float, float, float, float]
) -> None:
    # scale < 1 puts some dimensions under the variance hinge, so that branch is exercised
    gen = torch.Generator().manual_seed(1)
    z1 = (scale * torch.randn(7, 5, generator=gen)).requires_grad_()
    z2 = (scale * torch.randn(7, 5, generator=gen)).requires_grad_()
    r1 = z1.detach().double().requires_grad_()
    r2 = z2.detach().double().requires_grad_()

    loss = VICRegLoss(*coeffs)(z1, z2)
    expected = reference_vicreg(r1, r2, *coeffs)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss, expected.float(), rtol=1e-5, atol=1e-5)
    for z, r in [(z1, r1), (z2, r2)]:
        assert z.grad is not None
        assert r.grad is not None
        torch.testing.assert_close(z.grad, r.grad.float(), rtol=1e-5, atol=1e-5)


def test_defaults_are_the_papers() -> None:
    loss = VICRegLoss()
    assert (loss.sim_coeff, loss.std_coeff, loss.cov_coeff, loss.eps) == (25.0, 25.0, 1.0, 1e-4)


def test_mismatched_shapes_name_both() -> None:
    with pytest.raises(ValueError, match=r"\(4, 8\) and \(3, 8\)"):
        VICRegLoss()(torch.randn(4, 8), torch.randn(3, 8))


def test_wrong_rank_gives_the_shape() -> None:
    with pytest.raises(ValueError, match=r"z2 must have shape \(B, D\).*\(4, 8, 1\)"):
        VICRegLoss()(torch.randn(4, 8), torch.randn(4, 8, 1))
