"""DINOLoss against explicit loops over crops, samples and prototypes."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from spt_losses import DINOLoss

sys.path.insert(0, str(Path(__file__).parent))
from _slow_references import reference_sinkhorn


def reference_dino(
    student: list[Tensor], teacher: list[Tensor], center: Tensor, s_temp: float, t_temp: float
) -> Tensor:
    batch, dim = student[0].shape
    total = torch.zeros((), dtype=student[0].dtype)
    pairs = 0
    for i, t in enumerate(teacher):
        for v, s in enumerate(student):
            if v == i:
                continue
            pair = torch.zeros((), dtype=s.dtype)
            for b in range(batch):
                t_exp = [
                    math.exp((t[b, k].item() - center[0, k].item()) / t_temp) for k in range(dim)
                ]
                s_norm = torch.logsumexp(s[b] / s_temp, dim=0)
                for k in range(dim):
                    q = t_exp[k] / sum(t_exp)
                    pair = pair - q * (s[b, k] / s_temp - s_norm)
            total = total + pair / batch
            pairs += 1
    return total / pairs


@pytest.mark.parametrize(("n_global", "n_local"), [(2, 0), (2, 3), (1, 2)])
def test_matches_reference_values_and_gradients(n_global: int, n_local: int) -> None:
    gen = torch.Generator().manual_seed(3)
    dim = 6
    student = [
        torch.randn(4, dim, generator=gen, requires_grad=True) for _ in range(n_global + n_local)
    ]
    teacher = [torch.randn(4, dim, generator=gen) for _ in range(n_global)]
    loss_fn = DINOLoss(dim, student_temp=0.1, teacher_temp=0.07)
    loss_fn.center.copy_(0.3 * torch.randn(1, dim, generator=gen))
    ref_student = [s.detach().double().requires_grad_() for s in student]

    loss = loss_fn(student, teacher)
    expected = reference_dino(
        ref_student, [t.double() for t in teacher], loss_fn.center.double(), 0.1, 0.07
    )
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss, expected.float(), rtol=1e-5, atol=1e-5)
    for s, r in zip(student, ref_student, strict=True):
        # with one teacher view, student view 0 is in no pair and gets no gradient
        s_grad = torch.zeros_like(s) if s.grad is None else s.grad
        r_grad = torch.zeros_like(r) if r.grad is None else r.grad
        torch.testing.assert_close(s_grad, r_grad.float(), rtol=1e-5, atol=1e-5)


def test_teacher_gets_no_gradient() -> None:
    teacher = [torch.randn(3, 5, requires_grad=True) for _ in range(2)]
    student = [torch.randn(3, 5, requires_grad=True) for _ in range(2)]
    DINOLoss(5)(student, teacher).backward()
    assert all(t.grad is None for t in teacher)


def test_teacher_temperature_warmup_follows_linspace() -> None:
    loss_fn = DINOLoss(
        4, teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_teacher_temp_epochs=30
    )
    expected = np.concatenate([np.linspace(0.04, 0.07, 30), np.full(10, 0.07)])
    actual = [loss_fn.teacher_temperature(e) for e in range(40)]
    np.testing.assert_allclose(actual, expected, rtol=1e-12)


def test_epoch_changes_the_loss_during_warmup() -> None:
    student = [torch.randn(3, 5) for _ in range(2)]
    teacher = [torch.randn(3, 5) for _ in range(2)]
    loss_fn = DINOLoss(5, teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_teacher_temp_epochs=5)
    expected = reference_dino(student, teacher, torch.zeros(1, 5), 0.1, 0.04 + 0.03 * 2 / 4)
    torch.testing.assert_close(loss_fn(student, teacher, epoch=2), expected, rtol=1e-5, atol=1e-5)


def test_update_center_is_an_ema_of_the_teacher_mean() -> None:
    teacher = [torch.randn(3, 5) for _ in range(2)]
    loss_fn = DINOLoss(5, center_momentum=0.8)
    old = 0.5 * torch.randn(1, 5)
    loss_fn.center.copy_(old)
    loss_fn.update_center(teacher)
    batch_mean = sum(t.sum(dim=0) for t in teacher) / 6
    torch.testing.assert_close(loss_fn.center, 0.8 * old + 0.2 * batch_mean)


def test_forward_leaves_center_unchanged() -> None:
    loss_fn = DINOLoss(5)
    loss_fn([torch.randn(3, 5) for _ in range(2)], [torch.randn(3, 5) for _ in range(2)])
    assert torch.count_nonzero(loss_fn.center) == 0


def test_center_is_in_the_state_dict() -> None:
    assert "center" in DINOLoss(5).state_dict()


def test_more_teacher_than_student_views_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 teacher and 1 student"):
        DINOLoss(4)([torch.randn(2, 4)], [torch.randn(2, 4), torch.randn(2, 4)])


def test_single_student_view_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least two student views"):
        DINOLoss(4)([torch.randn(2, 4)], [torch.randn(2, 4)])


def test_wrong_out_dim_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"teacher_outputs\[1\].*\(2, 4\).*\(2, 5\)"):
        DINOLoss(4)([torch.randn(2, 4)] * 3, [torch.randn(2, 4), torch.randn(2, 5)])


def test_wrong_rank_gives_the_shape() -> None:
    with pytest.raises(ValueError, match=r"student_outputs\[0\].*\(2, 4, 1\)"):
        DINOLoss(4)([torch.randn(2, 4, 1)] * 2, [torch.randn(2, 4)])


def reference_dinov2(
    student: list[Tensor], teacher: list[Tensor], s_temp: float, t_temp: float
) -> Tensor:
    """DINO's pairs and reduction with DINOv2's teacher: the Sinkhorn-Knopp codes (3
    iterations, epsilon = the teacher temperature) of every teacher view together."""
    batch, dim = student[0].shape
    codes = reference_sinkhorn(torch.cat(teacher), t_temp, 3).split(batch)
    total = torch.zeros((), dtype=student[0].dtype)
    pairs = 0
    for i, q in enumerate(codes):
        for v, s in enumerate(student):
            if v == i:
                continue
            pair = torch.zeros((), dtype=s.dtype)
            for b in range(batch):
                s_norm = torch.logsumexp(s[b] / s_temp, dim=0)
                for k in range(dim):
                    pair = pair - q[b, k].item() * (s[b, k] / s_temp - s_norm)
            total = total + pair / batch
            pairs += 1
    return total / pairs


@pytest.mark.parametrize(("n_global", "n_local"), [(2, 0), (2, 3)])
def test_sinkhorn_centering_matches_reference_values_and_gradients(
    n_global: int, n_local: int
) -> None:
    gen = torch.Generator().manual_seed(4)
    dim = 5
    student = [
        torch.randn(4, dim, generator=gen, dtype=torch.float64, requires_grad=True)
        for _ in range(n_global + n_local)
    ]
    teacher = [torch.randn(4, dim, generator=gen, dtype=torch.float64) for _ in range(n_global)]
    loss_fn = DINOLoss(dim, student_temp=0.1, teacher_temp=0.07, centering="sinkhorn_knopp")
    ref_student = [s.detach().clone().requires_grad_() for s in student]

    loss = loss_fn(student, teacher)
    expected = reference_dinov2(ref_student, teacher, 0.1, 0.07)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    for s, r in zip(student, ref_student, strict=True):
        torch.testing.assert_close(s.grad, r.grad, rtol=1e-10, atol=1e-10)


def test_sinkhorn_centering_ignores_the_center_and_does_not_update_it() -> None:
    student = [torch.randn(3, 5) for _ in range(3)]
    teacher = [torch.randn(3, 5) for _ in range(2)]
    loss_fn = DINOLoss(5, centering="sinkhorn_knopp")
    before = loss_fn(student, teacher)
    loss_fn.center.copy_(torch.randn(1, 5))
    torch.testing.assert_close(loss_fn(student, teacher), before)
    center = loss_fn.center.clone()
    loss_fn.update_center(teacher)
    torch.testing.assert_close(loss_fn.center, center, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_sinkhorn_centering_finite_for_low_precision_and_large_outputs(dtype: torch.dtype) -> None:
    """Teacher outputs so spread that some prototypes' mass underflows in float32."""
    torch.manual_seed(5)
    x = (50 * torch.randn(4 * 16, 64)).requires_grad_()
    layer = torch.nn.Linear(64, 64)
    loss_fn = DINOLoss(64, student_temp=0.05, teacher_temp=0.04, centering="sinkhorn_knopp")
    with torch.autocast("cpu", dtype=dtype):
        z = layer(x)
        loss = loss_fn(list(z.split(16)), [v.detach() for v in z.split(16)[:2]])
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss)
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


def test_unknown_centering_is_an_error_that_lists_the_options() -> None:
    with pytest.raises(
        ValueError, match=r"centering must be one of \('center', 'sinkhorn_knopp'\)"
    ):
        DINOLoss(4, centering="sinkhorn")  # type: ignore[arg-type]
