"""BarlowTwinsLoss against an explicit cross-correlation loop."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from spt_losses import BarlowTwinsLoss


def reference_barlow(x: Tensor, y: Tensor, lambd: float, scale: float, eps: float) -> Tensor:
    n, d = x.shape

    def standardise(z: Tensor) -> list[list[Tensor]]:
        columns = []
        for j in range(d):
            mean = sum(z[i, j] for i in range(n)) / n
            var = sum((z[i, j] - mean) ** 2 for i in range(n)) / n
            columns.append([(z[i, j] - mean) / torch.sqrt(var + eps) for i in range(n)])
        return columns

    a, b = standardise(x), standardise(y)
    total = torch.zeros((), dtype=x.dtype)
    for j in range(d):
        for k in range(d):
            c = sum(a[j][i] * b[k][i] for i in range(n)) / n
            total = total + ((1 - c) ** 2 if j == k else lambd * c**2)
    return scale * total


@pytest.mark.parametrize(("lambd", "scale"), [(5e-3, 1.0), (0.1, 1 / 32)])
def test_matches_reference_values_and_gradients(lambd: float, scale: float) -> None:
    gen = torch.Generator().manual_seed(2)
    z1 = torch.randn(8, 6, generator=gen, requires_grad=True)
    z2 = torch.randn(8, 6, generator=gen, requires_grad=True)
    r1 = z1.detach().double().requires_grad_()
    r2 = z2.detach().double().requires_grad_()

    loss = BarlowTwinsLoss(lambd=lambd, scale=scale)(z1, z2)
    expected = reference_barlow(r1, r2, lambd, scale, 1e-5)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss, expected.float(), rtol=1e-5, atol=1e-5)
    for z, r in [(z1, r1), (z2, r2)]:
        assert z.grad is not None
        assert r.grad is not None
        torch.testing.assert_close(z.grad, r.grad.float(), rtol=1e-5, atol=1e-5)


def test_matches_batchnorm_formulation() -> None:
    z1, z2 = torch.randn(16, 8), torch.randn(16, 8)
    bn = torch.nn.BatchNorm1d(8, affine=False)
    c = bn(z1).T @ bn(z2) / 16
    expected = (torch.diagonal(c) - 1).pow(2).sum() + 5e-3 * (
        c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    )
    torch.testing.assert_close(BarlowTwinsLoss()(z1, z2), expected, rtol=1e-5, atol=1e-5)


def test_mismatched_shapes_name_both() -> None:
    with pytest.raises(ValueError, match=r"\(4, 8\) and \(4, 6\)"):
        BarlowTwinsLoss()(torch.randn(4, 8), torch.randn(4, 6))


def test_wrong_rank_gives_the_shape() -> None:
    with pytest.raises(ValueError, match=r"z1 must have shape \(B, D\).*\(8,\)"):
        BarlowTwinsLoss()(torch.randn(8), torch.randn(4, 8))
