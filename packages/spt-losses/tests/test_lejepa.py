"""LeJEPALoss against the paper's objective written with loops over views, samples, features."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).parent))
from _slow_references import reference_sigreg

from spt_losses import LeJEPALoss

F64 = torch.float64


def reference_prediction(views: list[Tensor], n_global: int) -> Tensor:
    """Mean over views, samples and features of (mean of the global views - view)^2."""
    batch, dim = views[0].shape
    total = torch.zeros((), dtype=views[0].dtype)
    for v in views:
        for b in range(batch):
            for d in range(dim):
                center = sum(views[g][b, d] for g in range(n_global)) / n_global
                total = total + (center - v[b, d]) ** 2
    return total / (len(views) * batch * dim)


def reference_lejepa(
    views: list[Tensor], n_global: int, lambd: float, directions: Tensor
) -> Tensor:
    sigreg = sum(reference_sigreg(v, directions) for v in views) / len(views)
    return (1 - lambd) * reference_prediction(views, n_global) + lambd * sigreg


def _views(n_views: int, batch: int = 5, dim: int = 3, seed: int = 0) -> list[Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, dim, generator=gen, dtype=F64).requires_grad_() for _ in range(n_views)
    ]


@pytest.mark.parametrize(("n_views", "n_global", "lambd"), [(2, 2, 0.05), (4, 2, 0.3), (3, 1, 0.5)])
def test_matches_reference_values_and_gradients(n_views: int, n_global: int, lambd: float) -> None:
    views = _views(n_views)
    ref_views = [v.detach().clone().requires_grad_() for v in views]
    loss_fn = LeJEPALoss(lambd=lambd, num_slices=4)
    directions = loss_fn.sigreg.sample_directions(3, step=2, device="cpu", dtype=F64)

    loss = loss_fn(views, n_global_views=n_global, step=2)
    expected = reference_lejepa(ref_views, n_global, lambd, directions)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    for v, r in zip(views, ref_views, strict=True):
        torch.testing.assert_close(v.grad, r.grad, rtol=1e-10, atol=1e-10)


def test_terms_are_the_unweighted_prediction_and_sigreg() -> None:
    views = [v.detach() for v in _views(3, seed=1)]
    loss_fn = LeJEPALoss(lambd=0.2, num_slices=4)
    directions = loss_fn.sigreg.sample_directions(3, step=0, device="cpu", dtype=F64)
    terms = loss_fn.terms(views, n_global_views=2, step=0)
    torch.testing.assert_close(
        terms["prediction"], reference_prediction(views, 2), rtol=1e-12, atol=1e-12
    )
    sigreg = sum(reference_sigreg(v, directions) for v in views) / 3
    torch.testing.assert_close(terms["sigreg"], sigreg, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(
        loss_fn(views, 2, step=0), 0.8 * terms["prediction"] + 0.2 * terms["sigreg"]
    )


def test_global_views_get_the_prediction_gradient_no_stop_gradient() -> None:
    views = _views(3, seed=2)
    LeJEPALoss(lambd=0.0)(views, n_global_views=2).backward()
    for v in views:
        assert v.grad is not None
        assert float(v.grad.abs().sum()) > 0


def test_each_call_draws_new_directions_shared_by_its_views() -> None:
    views = [v.detach() for v in _views(2, seed=3)]
    loss_fn = LeJEPALoss(lambd=1.0, num_slices=4)
    first, second = loss_fn(views), loss_fn(views)
    assert loss_fn.sigreg.calls == 2
    torch.testing.assert_close(first, loss_fn(views, step=0), rtol=0, atol=0)
    torch.testing.assert_close(second, loss_fn(views, step=1), rtol=0, atol=0)
    assert not torch.allclose(first, second)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_views_are_reduced_in_float32(dtype: torch.dtype) -> None:
    torch.manual_seed(4)
    x = (5 * torch.randn(3, 32, 16)).requires_grad_()
    layer = nn.Linear(16, 16)
    with torch.autocast("cpu", dtype=dtype):
        z = layer(x)
        assert z.dtype == dtype
        loss = LeJEPALoss(num_slices=16)(list(z), n_global_views=2)
    assert loss.dtype == torch.float32
    loss.backward()
    assert x.grad is not None
    assert torch.isfinite(loss)
    assert torch.isfinite(x.grad).all()


def test_bad_inputs_name_the_argument() -> None:
    with pytest.raises(ValueError, match="lambd"):
        LeJEPALoss(lambd=1.5)
    loss_fn = LeJEPALoss(num_slices=4)
    with pytest.raises(ValueError, match="at least one view"):
        loss_fn([])
    with pytest.raises(ValueError, match=r"n_global_views must be in \[1, 2\]"):
        loss_fn([torch.randn(4, 3)] * 2, n_global_views=3)
    with pytest.raises(ValueError, match=r"views\[1\] has shape \(4, 2\)"):
        loss_fn([torch.randn(4, 3), torch.randn(4, 2)], n_global_views=1)
