"""Three BYOL steps through spt.Module equal the paper's pseudo-code written out by hand.

The reference follows Algorithm 1 of Grill et al. (2020): online projections and
predictions, target projections without gradient, the symmetric loss
``(2 - 2 cos(q1, z2')) + (2 - 2 cos(q2, z1'))`` averaged over the batch, an optimizer step,
then the EMA of the target with the cosine momentum ``1 - (1 - m0)(cos(pi k / K) + 1) / 2``.

spt differs from the paper's pseudo-code in two ways that change the trajectory, both
documented by ``spt.forward.byol_forward`` and checked below:

- the loss is the mean of ``-cos`` over the two ordered pairs, i.e. the paper's loss
  divided by 4 (plus a constant): its gradient is exactly a quarter of the paper's;
- both views go through each network in one call, so batch norm sees the 2B samples
  together, where the pseudo-code encodes each view on its own.

``test_byol_steps_match_plain_loop`` runs the reference with those two choices; the other
tests pin each difference down against the paper-exact reference.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

import spt
from spt_module.testing import TwoViewImages, assert_same_weights, encode_views, make_trainer

N, BATCH, EMBED, PROJ = 24, 8, 8, 6
STEPS = N // BATCH
BASE_MOMENTUM = 0.8
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to ~1e-15


def _build() -> spt.Module:
    torch.manual_seed(0)
    module = spt.methods.byol(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        EMBED,
        hidden_dim=16,
        proj_dim=PROJ,
        pred_hidden_dim=16,
        base_momentum=BASE_MOMENTUM,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def _networks(module: spt.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
    """Copies of the online encoder f (backbone + projector), predictor q and target."""
    online = nn.Sequential(
        copy.deepcopy(module.backbone.student), copy.deepcopy(module.projector.student)
    )
    return online, copy.deepcopy(module.predictor), copy.deepcopy(online)


def regression_loss(p: Tensor, z: Tensor) -> Tensor:
    """The paper's ``||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z)``, averaged over the batch."""
    p = p / p.norm(dim=1, keepdim=True)
    z = z / z.norm(dim=1, keepdim=True)
    return ((p - z) ** 2).sum(dim=1).mean()


def byol_loss(
    f: nn.Module, q: nn.Module, target: nn.Module, x1: Tensor, x2: Tensor, joint: bool
) -> Tensor:
    """The symmetric BYOL loss of Algorithm 1; the target is under a stop-gradient."""
    z1, z2 = encode_views(f, x1, x2, joint)
    p1, p2 = encode_views(q, z1, z2, joint)
    with torch.no_grad():
        t1, t2 = encode_views(target, x1, x2, joint)
    return regression_loss(p1, t2.detach()) + regression_loss(p2, t1.detach())


def byol_loop(
    f: nn.Module, q: nn.Module, target: nn.Module, *, joint: bool, loss_scale: float
) -> None:
    """Algorithm 1 of BYOL for STEPS steps; ``loss_scale`` multiplies the paper's loss."""
    params = [*f.parameters(), *q.parameters()]
    optimizer = torch.optim.SGD(params, **{k: v for k, v in OPTIM.items() if k != "type"})
    for k, (x1, x2) in enumerate(TwoViewImages(N).batches(BATCH)):
        loss = loss_scale * byol_loss(f, q, target, x1, x2, joint)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        tau = 1 - (1 - BASE_MOMENTUM) * (math.cos(math.pi * k / STEPS) + 1) / 2
        with torch.no_grad():  # after the step: xi <- tau * xi + (1 - tau) * theta
            for pt, po in zip(target.parameters(), f.parameters(), strict=True):
                pt.copy_(tau * pt + (1 - tau) * po)
            for bt, bo in zip(target.buffers(), f.buffers(), strict=True):
                bt.copy_(bo)  # batch-norm statistics follow the online network


def test_byol_steps_match_plain_loop() -> None:
    module = _build()
    f, q, target = _networks(module)
    initial = copy.deepcopy(module.backbone.student.state_dict())
    byol_loop(f, q, target, joint=True, loss_scale=0.25)

    make_trainer(max_epochs=1).fit(module, DataLoader(TwoViewImages(N), batch_size=BATCH))

    assert int(module.backbone.num_updates) == STEPS == module.backbone.total_steps
    assert_same_weights(module.backbone.student, f[0], "backbone.student", **TOL)
    assert_same_weights(module.projector.student, f[1], "projector.student", **TOL)
    assert_same_weights(module.predictor, q, "predictor", **TOL)
    assert_same_weights(module.backbone.teacher, target[0], "backbone.teacher", **TOL)
    assert_same_weights(module.projector.teacher, target[1], "projector.teacher", **TOL)
    moved = [k for k, v in initial.items() if not torch.equal(v, f[0].state_dict()[k])]
    assert moved  # the steps changed the weights: the comparison is not of initial values


def _grads(loss: Tensor, module: nn.Module) -> list[Tensor]:
    params = [p for p in module.parameters() if p.requires_grad]
    return list(torch.autograd.grad(loss, params, allow_unused=True))


def test_byol_paper_loss_gradient_is_four_times_spts() -> None:
    """spt's loss (mean of -cos over the pairs) has a quarter of the paper's gradient."""
    module = _build()
    x1, x2 = next(TwoViewImages(N).batches(BATCH))
    batch = [{"image": x1}, {"image": x2}]
    ours = _grads(module(batch, "fit")["loss"], module)
    online = nn.Sequential(module.backbone.student, module.projector.student)
    target = nn.Sequential(module.backbone.teacher, module.projector.teacher)
    paper = _grads(byol_loss(online, module.predictor, target, x1, x2, joint=True), module)
    for a, b in zip(ours, paper, strict=True):
        if a is None:  # the teacher's parameters take no gradient
            assert b is None
            continue
        torch.testing.assert_close(b, 4 * a, rtol=1e-10, atol=1e-12)


def test_byol_per_view_batch_norm_of_the_paper_differs_from_spts_joint_encoding() -> None:
    """Encoding each view on its own (the pseudo-code) gives other gradients than spt's call."""
    module = _build()
    x1, x2 = next(TwoViewImages(N).batches(BATCH))
    ours = _grads(module([{"image": x1}, {"image": x2}], "fit")["loss"], module)
    online = nn.Sequential(module.backbone.student, module.projector.student)
    target = nn.Sequential(module.backbone.teacher, module.projector.teacher)
    per_view = byol_loss(online, module.predictor, target, x1, x2, joint=False) / 4
    paper = _grads(per_view, module)
    assert not all(torch.allclose(a, b) for a, b in zip(ours, paper, strict=True) if a is not None)


def test_byol_paper_exact_loop_ends_elsewhere_than_spt() -> None:
    """The paper-exact three steps (per-view encoding, full loss) do not match spt's."""
    module = _build()
    f, q, target = _networks(module)
    byol_loop(f, q, target, joint=False, loss_scale=1.0)
    make_trainer(max_epochs=1).fit(module, DataLoader(TwoViewImages(N), batch_size=BATCH))
    gap = max(
        (a - b).abs().max().item()
        for a, b in zip(module.predictor.parameters(), q.parameters(), strict=True)
    )
    assert gap > 1e-4
