"""KoLeoLoss against the Kozachenko-Leonenko estimator written with loops over pairs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from spt_losses import KoLeoLoss

F64 = torch.float64


def reference_koleo(x: Tensor, eps: float = 1e-8) -> Tensor:
    """-(1/B) sum_i log(min_{j != i} ||u_i - u_j|| + eps), u the L2-normalised rows."""
    batch = x.shape[0]
    u = [x[i] / torch.sqrt((x[i] ** 2).sum()) for i in range(batch)]
    total = torch.zeros((), dtype=x.dtype)
    for i in range(batch):
        distances = [torch.sqrt(((u[i] - u[j]) ** 2).sum()) for j in range(batch) if j != i]
        total = total - torch.log(torch.stack(distances).min() + eps)
    return total / batch


@pytest.mark.parametrize(("batch", "dim"), [(2, 3), (6, 4), (9, 2)])
def test_matches_reference_values_and_gradients(batch: int, dim: int) -> None:
    gen = torch.Generator().manual_seed(batch)
    x = (3 * torch.randn(batch, dim, generator=gen, dtype=F64)).requires_grad_()
    ref_x = x.detach().clone().requires_grad_()
    loss = KoLeoLoss()(x)
    expected = reference_koleo(ref_x)
    loss.backward()
    expected.backward()
    assert loss.dtype == F64
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(x.grad, ref_x.grad, rtol=1e-10, atol=1e-10)


def test_duplicate_points_give_a_finite_loss_and_gradient() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, 4, generator=gen, dtype=F64)
    x[3] = x[1]  # a duplicate pair: each one's nearest neighbour is at distance 0
    x[4] = 2.5 * x[0]  # the same direction: a duplicate after normalisation
    x.requires_grad_()
    eps = 1e-8
    loss = KoLeoLoss(eps=eps)(x)
    loss.backward()
    assert torch.isfinite(loss)
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    # four points at distance 0 (term -log(eps) each); point 2 to its nearest neighbour
    u = nn.functional.normalize(x.detach(), dim=-1)
    nearest = min(float((u[2] - u[j]).norm()) for j in (0, 1))
    expected = (4 * -math.log(eps) - math.log(nearest + eps)) / 5
    # 2.5 * x[0] normalises to x[0]'s direction up to rounding (a distance of ~1e-16)
    assert math.isclose(float(loss.detach()), expected, rel_tol=1e-9)


def test_only_duplicates_give_minus_log_eps_and_a_zero_gradient() -> None:
    a, b = torch.randn(2, 3, dtype=F64).unbind()
    x = torch.stack([a, a, b, 4.0 * b]).requires_grad_()
    loss = KoLeoLoss(eps=1e-6)(x)
    loss.backward()
    assert math.isclose(float(loss.detach()), -math.log(1e-6), rel_tol=1e-12)
    assert x.grad is not None
    assert torch.count_nonzero(x.grad) == 0  # the norm's subgradient at 0


def test_the_loss_only_sees_directions() -> None:
    x = torch.randn(7, 5, dtype=F64)
    scales = torch.rand(7, 1, dtype=F64) + 0.5
    torch.testing.assert_close(KoLeoLoss()(x), KoLeoLoss()(scales * x), rtol=1e-12, atol=1e-12)


def test_spread_points_have_a_lower_loss_than_clustered_ones() -> None:
    angles = torch.linspace(0, 2 * math.pi, 9, dtype=F64)[:-1]
    spread = torch.stack([angles.cos(), angles.sin()], dim=1)  # 8 evenly spaced on the circle
    clustered = torch.stack([(0.1 * angles).cos(), (0.1 * angles).sin()], dim=1)
    assert float(KoLeoLoss()(spread)) < float(KoLeoLoss()(clustered))


def test_the_gradient_pushes_nearest_neighbours_apart() -> None:
    x = torch.tensor([[1.0, 0.0], [math.cos(0.1), math.sin(0.1)], [-1.0, 0.0]], dtype=F64)
    x.requires_grad_()
    loss = KoLeoLoss()(x)
    loss.backward()
    assert x.grad is not None
    step = x.detach() - 0.01 * x.grad
    angle = math.atan2(float(step[1, 1]), float(step[1, 0])) - math.atan2(
        float(step[0, 1]), float(step[0, 0])
    )
    assert angle > 0.1


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_embeddings_are_reduced_in_float32(dtype: torch.dtype) -> None:
    torch.manual_seed(2)
    x = (30 * torch.randn(16, 16)).requires_grad_()
    layer = nn.Linear(16, 16)
    with torch.autocast("cpu", dtype=dtype):
        z = layer(x)
        assert z.dtype == dtype
        loss = KoLeoLoss()(torch.cat([z, z[:2]]))  # with duplicates
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss)
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


def test_bad_inputs_name_the_argument() -> None:
    with pytest.raises(ValueError, match="at least 2 embeddings"):
        KoLeoLoss()(torch.randn(1, 4))
    with pytest.raises(ValueError, match=r"embeddings.*\(2, 3, 4\)"):
        KoLeoLoss()(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="eps must be > 0"):
        KoLeoLoss(eps=0.0)
