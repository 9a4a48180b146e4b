"""IBOTPatchLoss against explicit loops over images, masked patches and prototypes."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).parent))
from _slow_references import reference_sinkhorn

from spt_losses import DINOLoss, IBOTPatchLoss

F64 = torch.float64


def cross_entropy(q: list[float], s: Tensor, s_temp: float) -> Tensor:
    """-sum_k q_k log softmax(s / s_temp)_k for one patch."""
    s_norm = torch.logsumexp(s / s_temp, dim=0)
    return -sum(q[k] * (s[k] / s_temp - s_norm) for k in range(len(q)))


def centred_teacher(t: Tensor, center: Tensor, t_temp: float) -> list[float]:
    e = [math.exp((t[k].item() - center[0, k].item()) / t_temp) for k in range(t.shape[0])]
    return [x / sum(e) for x in e]


def reference_ibot(
    student: Tensor,
    teacher: Tensor,
    mask: Tensor,
    s_temp: float,
    t_temp: float,
    center: Tensor | None = None,
    sinkhorn: bool = False,
) -> Tensor:
    """(1/B) sum_b (1/max(n_b, 1)) sum_{j masked} CE(teacher_bj, student_bj)."""
    batch, n = mask.shape
    cells = [(b, j) for b in range(batch) for j in range(n) if mask[b, j]]
    if sinkhorn:  # DINOv2: Sinkhorn-Knopp over every masked teacher patch together
        codes = reference_sinkhorn(torch.stack([teacher[b, j] for b, j in cells]), t_temp, 3)
        targets = {cell: codes[i].tolist() for i, cell in enumerate(cells)}
    else:
        assert center is not None
        targets = {(b, j): centred_teacher(teacher[b, j], center, t_temp) for b, j in cells}
    total = torch.zeros((), dtype=student.dtype)
    for b in range(batch):
        masked = [j for j in range(n) if mask[b, j]]
        image = sum(cross_entropy(targets[(b, j)], student[b, j], s_temp) for j in masked)
        if masked:
            total = total + image / len(masked)
    return total / batch


def _mask(batch: int, n: int, counts: list[int], seed: int = 0) -> Tensor:
    """A mask with counts[b] masked patches at random positions of image b."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(batch, n, dtype=torch.bool)
    for b, count in enumerate(counts):
        mask[b, torch.randperm(n, generator=gen)[:count]] = True
    return mask


def _inputs(batch: int, n: int, k: int, seed: int) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    student = torch.randn(batch, n, k, generator=gen, dtype=F64).requires_grad_()
    return student, torch.randn(batch, n, k, generator=gen, dtype=F64)


@pytest.mark.parametrize("counts", [[3, 0, 7, 1], [9, 9, 9, 9], [0, 2, 0, 5]])
def test_matches_reference_values_and_gradients(counts: list[int]) -> None:
    """Images with different numbers of masked patches, one of them with none."""
    student, teacher = _inputs(4, 9, 5, seed=len(counts) + sum(counts))
    mask = _mask(4, 9, counts)
    loss_fn = IBOTPatchLoss(5, student_temp=0.1, teacher_temp=0.07)
    loss_fn.center.copy_(0.3 * torch.randn(1, 5, generator=torch.Generator().manual_seed(1)))
    ref_student = student.detach().clone().requires_grad_()

    loss = loss_fn(student, teacher, mask)
    expected = reference_ibot(ref_student, teacher, mask, 0.1, 0.07, center=loss_fn.center.double())
    loss.backward()
    expected.backward()
    assert loss.dtype == F64
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(student.grad, ref_student.grad, rtol=1e-10, atol=1e-10)


def test_sinkhorn_centering_matches_reference_values_and_gradients() -> None:
    student, teacher = _inputs(3, 8, 4, seed=5)
    mask = _mask(3, 8, [5, 0, 2])
    loss_fn = IBOTPatchLoss(4, student_temp=0.1, teacher_temp=0.05, centering="sinkhorn_knopp")
    ref_student = student.detach().clone().requires_grad_()

    loss = loss_fn(student, teacher, mask)
    expected = reference_ibot(ref_student, teacher, mask, 0.1, 0.05, sinkhorn=True)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(student.grad, ref_student.grad, rtol=1e-10, atol=1e-10)


def test_reduction_is_the_mean_over_images_of_the_mean_over_their_masked_patches() -> None:
    """The authors' reduction, pinned: an image weighs 1/B whatever its number of masked
    patches, and an image without any masked patch adds 0 but still counts in B."""
    student, teacher = _inputs(3, 6, 4, seed=6)
    student = student.detach()
    loss_fn = IBOTPatchLoss(4)
    mask = _mask(3, 6, [1, 4, 0])

    def alone(b: int) -> Tensor:  # the loss of image b as a batch of one
        return loss_fn(student[b : b + 1], teacher[b : b + 1], mask[b : b + 1])

    torch.testing.assert_close(loss_fn(student, teacher, mask), (alone(0) + alone(1) + 0.0) / 3)
    assert float(alone(2)) == 0.0
    patches = mask[1].nonzero().flatten().tolist()
    single = []
    for j in patches:  # image 1's loss is the mean of its masked patches' losses
        one = torch.zeros_like(mask[1:2])
        one[0, j] = True
        single.append(loss_fn(student[1:2], teacher[1:2], one))
    torch.testing.assert_close(alone(1), torch.stack(single).mean())


def test_unmasked_patches_do_not_enter_the_loss() -> None:
    student, teacher = _inputs(2, 6, 4, seed=7)
    mask = _mask(2, 6, [2, 3])
    loss_fn = IBOTPatchLoss(4)
    loss = loss_fn(student, teacher, mask)
    loss.backward()
    assert student.grad is not None
    assert torch.count_nonzero(student.grad[~mask]) == 0
    changed_student = torch.where(mask[..., None], student.detach(), 100.0)
    changed_teacher = torch.where(mask[..., None], teacher, -50.0)
    torch.testing.assert_close(loss_fn(changed_student, changed_teacher, mask), loss.detach())


@pytest.mark.parametrize("centering", ["center", "sinkhorn_knopp"])
def test_a_batch_without_masked_patches_gives_zero_and_finite_gradients(centering: str) -> None:
    student, teacher = _inputs(2, 5, 3, seed=8)
    loss = IBOTPatchLoss(3, centering=centering)(  # type: ignore[arg-type]
        student, teacher, torch.zeros(2, 5, dtype=torch.bool)
    )
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert student.grad is not None
    assert torch.count_nonzero(student.grad) == 0


def test_teacher_gets_no_gradient() -> None:
    student, teacher = _inputs(2, 5, 3, seed=9)
    teacher.requires_grad_()
    IBOTPatchLoss(3)(student, teacher, _mask(2, 5, [2, 2])).backward()
    assert teacher.grad is None


def test_teacher_temperature_warmup_is_dino_s() -> None:
    ibot = IBOTPatchLoss(
        4, teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_teacher_temp_epochs=30
    )
    dino = DINOLoss(4, teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_teacher_temp_epochs=30)
    for epoch in range(40):
        assert ibot.teacher_temperature(epoch) == dino.teacher_temperature(epoch)
    student, teacher = _inputs(2, 5, 4, seed=10)
    mask = _mask(2, 5, [3, 1])
    expected = reference_ibot(
        student.detach(),
        teacher,
        mask,
        0.1,
        ibot.teacher_temperature(3),
        center=ibot.center.double(),
    )
    torch.testing.assert_close(
        ibot(student, teacher, mask, epoch=3), expected, rtol=1e-10, atol=1e-10
    )


def test_update_center_is_an_ema_of_the_mean_over_every_patch() -> None:
    teacher = torch.randn(3, 4, 5)
    loss_fn = IBOTPatchLoss(5, center_momentum=0.8)
    old = 0.5 * torch.randn(1, 5)
    loss_fn.center.copy_(old)
    loss_fn.update_center(teacher)
    patch_mean = teacher.sum(dim=(0, 1), keepdim=True)[0] / 12
    torch.testing.assert_close(loss_fn.center, 0.8 * old + 0.2 * patch_mean)


def test_forward_leaves_the_center_unchanged_and_sinkhorn_has_no_center() -> None:
    student, teacher = _inputs(2, 4, 3, seed=11)
    loss_fn = IBOTPatchLoss(3)
    loss_fn(student, teacher, _mask(2, 4, [1, 1]))
    assert torch.count_nonzero(loss_fn.center) == 0
    assert "center" in loss_fn.state_dict()
    sk = IBOTPatchLoss(3, centering="sinkhorn_knopp")
    sk.update_center(teacher)
    assert torch.count_nonzero(sk.center) == 0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("centering", ["center", "sinkhorn_knopp"])
def test_low_precision_inputs_are_reduced_in_float32(dtype: torch.dtype, centering: str) -> None:
    torch.manual_seed(12)
    x = (30 * torch.randn(2, 2, 8, 16)).requires_grad_()
    layer = nn.Linear(16, 16)
    mask = _mask(2, 8, [5, 3])
    loss_fn = IBOTPatchLoss(16, student_temp=0.05, teacher_temp=0.04, centering=centering)  # type: ignore[arg-type]
    with torch.autocast("cpu", dtype=dtype):
        z = layer(x)
        assert z.dtype == dtype
        loss = loss_fn(z[0], z[1].detach(), mask)
    assert loss.dtype == torch.float32
    loss.backward()
    assert x.grad is not None
    assert torch.isfinite(loss)
    assert torch.isfinite(x.grad).all()


def test_bad_inputs_name_the_argument_and_the_shapes() -> None:
    loss_fn = IBOTPatchLoss(4)
    s, t = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        loss_fn(s, t, torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"mask must have shape \(B, N\) = \(2, 3\); got \(2, 4\)"):
        loss_fn(s, t, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"out_dim = 4.*\(2, 3, 5\)"):
        loss_fn(torch.randn(2, 3, 5), torch.randn(2, 3, 5), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"student_patches.*\(2, 4\)"):
        loss_fn(torch.randn(2, 4), t, torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="centering must be one of"):
        IBOTPatchLoss(4, centering="softmax")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sinkhorn_iterations"):
        IBOTPatchLoss(4, sinkhorn_iterations=0)
