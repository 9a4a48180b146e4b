"""LARS and LinearWarmupCosineAnnealing against their formulas, written out slowly."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from spt_optim import LARS, LinearWarmupCosineAnnealing


def _reference_lars_steps(
    weights: list[torch.Tensor],
    grads: list[list[torch.Tensor]],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    eta: float,
    nesterov: bool,
) -> list[torch.Tensor]:
    """You et al. 2017, one tensor at a time, in float64; 1-D tensors get plain momentum SGD."""
    ws = [w.double().clone() for w in weights]
    bufs: list[torch.Tensor | None] = [None] * len(ws)
    for step_grads in grads:
        for i, (w, g) in enumerate(zip(ws, step_grads, strict=True)):
            g = g.double()
            if w.ndim > 1:
                w_norm = float(w.norm())
                g_norm = float(g.norm())
                if w_norm > 0 and g_norm > 0:
                    trust = eta * w_norm / (g_norm + weight_decay * w_norm)
                else:
                    trust = 1.0
                d = trust * (g + weight_decay * w)
            else:
                d = g
            buf = bufs[i]
            buf = d.clone() if buf is None else momentum * buf + d
            bufs[i] = buf
            update = d + momentum * buf if nesterov else buf
            ws[i] = w - lr * update
    return ws


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_lars_matches_the_formula(nesterov: bool, weight_decay: float) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))
    params = list(model.parameters())
    start = [p.detach().clone() for p in params]
    kwargs = {"lr": 0.5, "momentum": 0.9, "weight_decay": weight_decay, "eta": 0.02}
    opt = LARS(params, nesterov=nesterov, **kwargs)
    grads = []
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(16, 5)).pow(2).mean().backward()
        grads.append([p.grad.detach().clone() for p in params])  # type: ignore[union-attr]
        opt.step()
    expected = _reference_lars_steps(start, grads, nesterov=nesterov, **kwargs)
    for got, want in zip(params, expected, strict=True):
        torch.testing.assert_close(got.detach().double(), want, rtol=1e-5, atol=1e-6)


def test_lars_adapts_1d_tensors_when_asked() -> None:
    bias = nn.Parameter(torch.tensor([3.0, 4.0]))  # norm 5
    bias.grad = torch.tensor([0.0, 10.0])  # norm 10
    opt = LARS([bias], lr=1.0, momentum=0.0, eta=0.1, exclude_1d=False)
    opt.step()
    trust = 0.1 * 5.0 / 10.0
    torch.testing.assert_close(bias.detach(), torch.tensor([3.0, 4.0 - trust * 10.0]))


def test_lars_trust_ratio_is_one_for_zero_weights() -> None:
    weight = nn.Parameter(torch.zeros(2, 2))
    weight.grad = torch.ones(2, 2)
    LARS([weight], lr=0.1, momentum=0.0).step()
    torch.testing.assert_close(weight.detach(), torch.full((2, 2), -0.1))


def test_lars_closure_returns_the_loss() -> None:
    weight = nn.Parameter(torch.ones(2, 2))
    opt = LARS([weight])

    def closure() -> float:
        opt.zero_grad()
        loss = weight.sum()
        loss.backward()
        return float(loss.detach())

    assert opt.step(closure) == 4.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, "LARS: lr must be >= 0, got -1.0"),
        ({"momentum": -0.1}, "LARS: momentum must be >= 0"),
        ({"weight_decay": -1e-4}, "LARS: weight_decay must be >= 0"),
        ({"eta": 0.0}, r"LARS: eta \(trust coefficient\) must be > 0, got 0.0"),
        ({"nesterov": True, "momentum": 0.0}, "nesterov=True needs momentum > 0"),
    ],
)
def test_lars_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LARS([nn.Parameter(torch.ones(1))], **kwargs)


def _reference_warmup_cosine(
    t: int, base: float, warmup: int, total: int, start: float, eta_min: float
) -> float:
    if t < warmup:
        return base * (start + (1 - start) * t / warmup)
    if t >= total:
        return eta_min
    return (
        eta_min + (base - eta_min) * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) / 2
    )


@pytest.mark.parametrize(
    ("warmup", "total", "start", "eta_min"),
    [(0, 10, 0.0, 0.0), (3, 12, 0.0, 0.0), (4, 9, 0.1, 0.01), (5, 5, 0.5, 0.0)],
)
def test_warmup_cosine_matches_the_formula(
    warmup: int, total: int, start: float, eta_min: float
) -> None:
    bases = [0.5, 0.2]
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(
        [{"params": [model.weight], "lr": bases[0]}, {"params": [model.bias], "lr": bases[1]}]
    )
    sched = LinearWarmupCosineAnnealing(
        opt, warmup_steps=warmup, total_steps=total, warmup_start_factor=start, eta_min=eta_min
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(total + 3):
            got = [group["lr"] for group in opt.param_groups]
            want = [_reference_warmup_cosine(t, b, warmup, total, start, eta_min) for b in bases]
            assert got == pytest.approx(want, abs=1e-12), t
            opt.step()
            sched.step()


def test_warmup_cosine_resumes_from_its_state_dict() -> None:
    def make() -> tuple[torch.optim.Optimizer, LinearWarmupCosineAnnealing]:
        opt = torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=1.0)
        return opt, LinearWarmupCosineAnnealing(opt, warmup_steps=2, total_steps=10)

    opt, sched = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(4):
            opt.step()
            sched.step()
        opt2, sched2 = make()
        opt2.load_state_dict(opt.state_dict())
        sched2.load_state_dict(sched.state_dict())
        for _ in range(3):
            opt.step()
            sched.step()
            opt2.step()
            sched2.step()
    assert sched2.get_last_lr() == pytest.approx(sched.get_last_lr())
    assert sched.get_last_lr()[0] == pytest.approx(_reference_warmup_cosine(7, 1.0, 2, 10, 0, 0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warmup_steps": 0, "total_steps": 0}, "total_steps must be >= 1, got 0"),
        ({"warmup_steps": 11, "total_steps": 10}, r"warmup_steps must be in \[0, total_steps\]"),
        ({"warmup_steps": -1, "total_steps": 10}, "got warmup_steps=-1, total_steps=10"),
        (
            {"warmup_steps": 1, "total_steps": 10, "warmup_start_factor": 1.5},
            r"warmup_start_factor must be in \[0, 1\], got 1.5",
        ),
    ],
)
def test_warmup_cosine_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    opt = torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=1.0)
    with pytest.raises(ValueError, match=message):
        LinearWarmupCosineAnnealing(opt, **kwargs)  # type: ignore[arg-type]
