"""Three DINO steps through spt.Module equal the paper's pseudo-code written out by hand.

The reference follows Algorithm 1 of Caron et al. (2021): student and teacher outputs of
both global views, the paper's ``H(t1, s2) / 2 + H(t2, s1) / 2`` with the teacher centred by ``C``,
sharpened by the teacher temperature and under a stop-gradient, an optimizer step, the EMA
of the teacher (cosine momentum, as in the paper's code), then the centre update
``C = m C + (1 - m) mean(cat([t1, t2]))`` from the same teacher outputs. The teacher
temperature follows the warm-up schedule by epoch (``linspace`` of the paper's code); the
three steps here span two epochs, so both temperatures are used.

The pseudo-code encodes each view on its own; the authors' code (its multi-crop wrapper)
and ``spt.forward.dino_forward`` put the views of one resolution through the network in one
call, so batch norm sees both views. The reference does the same;
``test_dino_per_view_encoding_of_the_pseudo_code_differs_with_batch_norm`` pins the
difference down.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt_module.testing import assert_same_weights, encode_views, make_trainer

N, BATCH, EMBED, OUT = 16, 8, 8, 10
STEPS = 3  # two steps in epoch 0, one in epoch 1
BASE_MOMENTUM, CENTER_MOMENTUM = 0.8, 0.7
STUDENT_TEMP, WARMUP_TEMP, TEACHER_TEMP = 0.1, 0.04, 0.07
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to ~1e-15


class TwoViewDataset(Dataset[list[dict[str, Any]]]):
    """Fixed pairs of 8x8 global views, float64."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.views = torch.randn(N, 2, 1, 8, 8, generator=gen, dtype=torch.float64)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        return [{"image": v, "label": i % 3} for v in self.views[i]]


def _batches() -> Iterator[tuple[int, Tensor, Tensor]]:
    """(epoch, x1, x2) for STEPS steps over the data in order, epoch after epoch."""
    views = TwoViewDataset().views
    step = 0
    for epoch in range(math.ceil(STEPS * BATCH / N)):
        for start in range(0, N, BATCH):
            if step == STEPS:
                return
            yield epoch, views[start : start + BATCH, 0], views[start : start + BATCH, 1]
            step += 1


def _build() -> spt.Module:
    torch.manual_seed(0)
    module = spt.methods.dino(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        EMBED,
        hidden_dim=16,
        bottleneck_dim=6,
        out_dim=OUT,
        student_temp=STUDENT_TEMP,
        teacher_temp=TEACHER_TEMP,
        warmup_teacher_temp=WARMUP_TEMP,
        warmup_teacher_temp_epochs=2,
        center_momentum=CENTER_MOMENTUM,
        base_momentum=BASE_MOMENTUM,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    with torch.no_grad():  # a non-zero starting centre, so centring is seen from step 0
        module.dino_loss.center.normal_(0, 0.5)
    return module.double()


def _fit(module: spt.Module) -> None:
    loader = DataLoader(TwoViewDataset(), batch_size=BATCH, shuffle=False)
    make_trainer(max_epochs=2, max_steps=STEPS).fit(module, loader)


def cross_entropy_h(t: Tensor, s: Tensor, center: Tensor, tpt: float) -> Tensor:
    """The paper's ``H``: cross-entropy between centred, sharpened teacher and student outputs."""
    t = t.detach()  # stop gradient
    s = F.softmax(s / STUDENT_TEMP, dim=1)
    t = F.softmax((t - center) / tpt, dim=1)  # centre + sharpen
    return -(t * torch.log(s)).sum(dim=1).mean()


def dino_loop(
    gs: nn.Module,
    gt: nn.Module,
    center: Tensor,
    *,
    joint: bool = True,
    warmup_temp: float = WARMUP_TEMP,
    m: float = CENTER_MOMENTUM,
) -> None:
    """Algorithm 1 of DINO for STEPS steps; ``center`` (1, OUT) is updated in place."""
    optimizer = torch.optim.SGD(gs.parameters(), **{k: v for k, v in OPTIM.items() if k != "type"})
    # the warm-up over 2 epochs, in float64 as the python floats of spt
    temps = torch.linspace(warmup_temp, TEACHER_TEMP, 2, dtype=torch.float64).tolist()
    for k, (epoch, x1, x2) in enumerate(_batches()):
        s1, s2 = encode_views(gs, x1, x2, joint)
        with torch.no_grad():
            t1, t2 = encode_views(gt, x1, x2, joint)
        tpt = temps[epoch]
        loss = cross_entropy_h(t1, s2, center, tpt) / 2 + cross_entropy_h(t2, s1, center, tpt) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()  # update(gs)
        lam = 1 - (1 - BASE_MOMENTUM) * (math.cos(math.pi * k / STEPS) + 1) / 2
        with torch.no_grad():
            for pt, ps in zip(gt.parameters(), gs.parameters(), strict=True):
                pt.copy_(lam * pt + (1 - lam) * ps)
            for bt, bs in zip(gt.buffers(), gs.buffers(), strict=True):
                bt.copy_(bs)  # batch-norm statistics follow the student
            center.copy_(m * center + (1 - m) * torch.cat([t1, t2]).mean(dim=0))


def _networks(module: spt.Module) -> tuple[nn.Module, nn.Module, Tensor]:
    gs = nn.Sequential(
        copy.deepcopy(module.backbone.student), copy.deepcopy(module.projector.student)
    )
    return gs, copy.deepcopy(gs), module.dino_loss.center.clone()


def test_dino_steps_match_plain_loop() -> None:
    module = _build()
    gs, gt, center = _networks(module)
    initial = copy.deepcopy(gs.state_dict())
    dino_loop(gs, gt, center)

    _fit(module)

    assert int(module.backbone.num_updates) == STEPS == module.backbone.total_steps
    assert_same_weights(module.backbone.student, gs[0], "backbone.student", **TOL)
    assert_same_weights(module.projector.student, gs[1], "projector.student", **TOL)
    assert_same_weights(module.backbone.teacher, gt[0], "backbone.teacher", **TOL)
    assert_same_weights(module.projector.teacher, gt[1], "projector.teacher", **TOL)
    assert module.dino_loss.center.dtype == torch.float64
    torch.testing.assert_close(module.dino_loss.center, center, **TOL)
    moved = [k for k, v in initial.items() if not torch.equal(v, gs.state_dict()[k])]
    assert moved  # the steps changed the weights: the comparison is not of initial values


def test_dino_loop_sees_the_teacher_temperature_and_the_centre() -> None:
    """A reference with the final temperature from step 0, or no centring, ends elsewhere."""
    module = _build()
    _fit(module)
    for changed in ("temperature", "centre"):
        gs, gt, center = _networks(_build())
        if changed == "centre":  # a centre that stays 0
            center.zero_()
            dino_loop(gs, gt, center, m=1.0)
        else:  # the final temperature from the first epoch on
            dino_loop(gs, gt, center, warmup_temp=TEACHER_TEMP)
        gap = max(
            (a - b).abs().max().item()
            for a, b in zip(module.projector.student.parameters(), gs[1].parameters(), strict=True)
        )
        assert gap > 1e-6, changed


def test_dino_per_view_encoding_of_the_pseudo_code_differs_with_batch_norm() -> None:
    """The pseudo-code's separate calls per view end elsewhere than spt's joint call."""
    module = _build()
    gs, gt, center = _networks(module)
    dino_loop(gs, gt, center, joint=False)
    _fit(module)
    gap = max(
        (a - b).abs().max().item()
        for a, b in zip(module.backbone.student.parameters(), gs[0].parameters(), strict=True)
    )
    assert gap > 1e-6
