"""Every loss computes in float64 when given float64: exact gradients, float64 out.

Each case is a function of the float64 tensors that get a gradient; gradcheck compares
its backward with central finite differences. DINO's teacher outputs and centre are
held fixed: the teacher is detached by the loss and the centre is a buffer, so neither
is differentiable (see `test_dino_gradient_reaches_the_student_only`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from spt_losses import (
    BarlowTwinsLoss,
    CLIPLoss,
    DINOLoss,
    IBOTPatchLoss,
    IJEPALoss,
    KoLeoLoss,
    LeJEPALoss,
    MAELoss,
    NegativeCosineSimilarity,
    NTXEntLoss,
    SIGReg,
    VICRegLoss,
    _similarity,
)

F64 = torch.float64
Case = tuple[Callable[..., Tensor], tuple[Tensor, ...]]


def _randn(*shape: int, gen: torch.Generator, scale: float = 1.0) -> Tensor:
    return (scale * torch.randn(*shape, generator=gen, dtype=F64)).requires_grad_()


def _dino_case(gen: torch.Generator) -> Case:
    loss_fn = DINOLoss(5, student_temp=0.1, teacher_temp=0.07)
    loss_fn.center.copy_(0.3 * torch.randn(1, 5, generator=gen))
    teacher = [torch.randn(4, 5, generator=gen, dtype=F64) for _ in range(2)]
    students = tuple(_randn(4, 5, gen=gen) for _ in range(3))  # 2 global + 1 local crop
    return (lambda *s: loss_fn(list(s), teacher)), students


def _clip_case(gen: torch.Generator) -> Case:
    # the learned temperature is an input too: the loss runs with it as its parameter
    loss_fn = CLIPLoss(temperature=0.1)

    def fn(images: Tensor, texts: Tensor, log_scale: Tensor) -> Tensor:
        out: Tensor = torch.func.functional_call(loss_fn, {"log_scale": log_scale}, (images, texts))
        return out

    log_scale = torch.tensor(2.0, dtype=F64, requires_grad=True)
    return fn, (_randn(4, 5, gen=gen), _randn(4, 5, gen=gen), log_scale)


def _masked_and_predictive_case(name: str, gen: torch.Generator) -> Case:
    """iBOT, DINOv2's Sinkhorn centring, KoLeo, I-JEPA, SIGReg and LeJEPA. Teachers,
    targets and masks are fixed; SIGReg draws the directions of a fixed step."""
    if name in ("ibot", "ibot_sinkhorn"):
        centering = "sinkhorn_knopp" if name == "ibot_sinkhorn" else "center"
        ibot = IBOTPatchLoss(4, teacher_temp=0.07, centering=centering)
        ibot.center.copy_(0.3 * torch.randn(1, 4, generator=gen))
        teacher = torch.randn(3, 5, 4, generator=gen, dtype=F64)
        mask = torch.tensor([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0], [0, 1, 0, 0, 0]], dtype=torch.bool)
        return (lambda s: ibot(s, teacher, mask)), (_randn(3, 5, 4, gen=gen),)
    if name == "dino_sinkhorn":
        dino = DINOLoss(5, teacher_temp=0.07, centering="sinkhorn_knopp")
        teachers = [torch.randn(4, 5, generator=gen, dtype=F64) for _ in range(2)]
        return (lambda *s: dino(list(s), teachers)), tuple(_randn(4, 5, gen=gen) for _ in range(3))
    if name == "koleo":
        return KoLeoLoss(), (_randn(6, 3, gen=gen),)
    if name in ("ijepa_smooth_l1", "ijepa_l2"):
        ijepa = IJEPALoss("l2" if name == "ijepa_l2" else "smooth_l1", beta=0.5)
        targets = [torch.randn(2, k, 4, generator=gen, dtype=F64) for k in (3, 2)]
        preds = tuple(_randn(2, k, 4, gen=gen) for k in (3, 2))
        return (lambda *p: ijepa(list(p), targets)), preds
    if name == "sigreg":
        sigreg = SIGReg(num_slices=6)
        return (lambda z: sigreg(z, step=3)), (_randn(10, 4, gen=gen, scale=1.5),)
    if name == "lejepa":
        lejepa = LeJEPALoss(lambd=0.3, num_slices=6)
        views = tuple(_randn(6, 4, gen=gen) for _ in range(3))
        return (lambda *v: lejepa(list(v), n_global_views=2, step=1)), views
    raise KeyError(name)


MASKED_AND_PREDICTIVE_CASES = [
    "ibot",
    "ibot_sinkhorn",
    "dino_sinkhorn",
    "koleo",
    "ijepa_smooth_l1",
    "ijepa_l2",
    "sigreg",
    "lejepa",
]


def make_case(name: str) -> Case:
    """(loss as a function of its differentiable inputs, those float64 inputs)."""
    gen = torch.Generator().manual_seed(11)
    if name in MASKED_AND_PREDICTIVE_CASES:
        return _masked_and_predictive_case(name, gen)
    if name == "ntxent":
        return NTXEntLoss(0.5), (_randn(4, 5, gen=gen), _randn(4, 5, gen=gen))
    if name == "ntxent_low_temperature_three_views":
        return NTXEntLoss(0.1), tuple(_randn(3, 4, gen=gen) for _ in range(3))
    if name == "ntxent_negatives":
        loss = NTXEntLoss(0.3)
        views = (_randn(3, 4, gen=gen), _randn(3, 4, gen=gen))
        negatives = _randn(5, 4, gen=gen)  # a queue that is not detached gets a gradient
        return (lambda a, b, n: loss(a, b, negatives=n)), (*views, negatives)
    if name == "negative_cosine":
        return NegativeCosineSimilarity(), (_randn(4, 5, gen=gen), _randn(4, 5, gen=gen))
    if name == "vicreg":
        # scale 0.8: some dimensions are under the variance hinge, some above it
        views = (_randn(6, 4, gen=gen, scale=0.8), _randn(6, 4, gen=gen, scale=0.8))
        return VICRegLoss(), views
    if name == "barlow_twins":
        return BarlowTwinsLoss(lambd=0.1), (_randn(6, 4, gen=gen), _randn(6, 4, gen=gen))
    if name == "dino":
        return _dino_case(gen)
    if name == "clip":
        return _clip_case(gen)
    if name in ("mae", "mae_norm_pix"):
        mask = torch.tensor([[True, False, True], [False, True, True]])
        loss_fn = MAELoss(norm_pix_loss=name == "mae_norm_pix")
        pred, target = _randn(2, 3, 4, gen=gen), _randn(2, 3, 4, gen=gen)
        return (lambda p, t: loss_fn(p, t, mask)), (pred, target)
    raise KeyError(name)


CASES = [
    "ntxent",
    "ntxent_low_temperature_three_views",
    "ntxent_negatives",
    "negative_cosine",
    "vicreg",
    "barlow_twins",
    "dino",
    "clip",
    "mae",
    "mae_norm_pix",
    *MASKED_AND_PREDICTIVE_CASES,
]


@pytest.fixture(params=["gram", "matmul"])
def similarity_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test through both ways NT-Xent computes the logits of one process."""
    gram = request.param == "gram"
    monkeypatch.setattr(_similarity, "prefers_gram", lambda rows, dim: gram)
    return str(request.param)


@pytest.mark.parametrize("case", CASES)
def test_every_loss_passes_float64_gradcheck(case: str) -> None:
    fn, inputs = make_case(case)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("ntxent")])
def test_ntxent_passes_float64_gradcheck_on_both_logit_paths(
    case: str, similarity_path: str
) -> None:
    fn, inputs = make_case(case)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", CASES)
def test_every_loss_gives_float64_out_and_float64_gradients_for_float64_in(case: str) -> None:
    fn, inputs = make_case(case)
    loss = fn(*inputs)
    assert loss.dtype == F64
    loss.backward()
    for x in inputs:
        assert x.grad is not None
        assert x.grad.dtype == F64


@pytest.mark.parametrize("case", CASES)
def test_float64_stays_float64_under_autocast(case: str) -> None:
    fn, inputs = make_case(case)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = fn(*inputs)
    assert loss.dtype == F64
    plain = fn(*inputs)
    torch.testing.assert_close(loss, plain, rtol=1e-12, atol=1e-12)


def test_dino_gradient_reaches_the_student_only() -> None:
    loss_fn = DINOLoss(5)
    loss_fn.center.copy_(torch.randn(1, 5))
    teacher = [torch.randn(4, 5, dtype=F64, requires_grad=True) for _ in range(2)]
    students = [torch.randn(4, 5, dtype=F64, requires_grad=True) for _ in range(2)]
    loss_fn(students, teacher).backward()
    assert all(s.grad is not None and s.grad.dtype == F64 for s in students)
    assert all(t.grad is None for t in teacher)
    assert not loss_fn.center.requires_grad
    assert loss_fn.center.grad is None


def test_dino_update_center_averages_float64_teachers_in_float64() -> None:
    loss_fn = DINOLoss(3, center_momentum=0.5).double()
    teacher = [torch.full((2, 3), 1.0 + 1e-12, dtype=F64) for _ in range(2)]
    loss_fn.update_center(teacher)
    assert loss_fn.center.dtype == F64
    torch.testing.assert_close(
        loss_fn.center, torch.full((1, 3), 0.5 * (1.0 + 1e-12), dtype=F64), rtol=0, atol=1e-15
    )


def test_similarity_functions_pass_float64_gradcheck() -> None:
    gen = torch.Generator().manual_seed(12)
    q, k, z = _randn(3, 4, gen=gen), _randn(7, 4, gen=gen), _randn(5, 4, gen=gen)

    # nan_to_num turns the masked -inf entries into constants, so finite differences exist
    def logits(q: Tensor, k: Tensor) -> Tensor:
        return _similarity.masked_logits(q, k, 2).nan_to_num(neginf=0.0)

    def gram(z: Tensor) -> Tensor:
        return _similarity.masked_gram(z).nan_to_num(neginf=0.0)

    assert torch.autograd.gradcheck(logits, (q, k), eps=1e-6, atol=1e-8)
    assert torch.autograd.gradcheck(gram, (z,), eps=1e-6, atol=1e-8)
