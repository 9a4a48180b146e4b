"""Three Barlow Twins steps through spt.Module equal the paper's pseudo-code written out by hand.

The reference follows Algorithm 1 of Zbontar et al. (2021): each branch's projections
normalised along the batch, the cross-correlation ``c = z_a_norm.T @ z_b_norm / N``, the
loss ``sum_j (1 - c_jj)^2 + lambda * sum_{j != k} c_jk^2``, then an optimizer step.

spt differs from the pseudo-code in two ways that change the trajectory, both checked below:

- the pseudo-code divides by ``z.std(0)`` (torch's unbiased std, no epsilon); spt
  standardises as the authors' code does, with ``BatchNorm1d(affine=False)`` statistics
  (biased variance plus 1e-5);
- both views go through the network in one call (``spt.forward.barlow_twins_forward``), so
  batch norm sees the 2B samples, where the pseudo-code (and the authors' code) encodes
  each view on its own.

``test_barlow_twins_steps_match_plain_loop`` runs the reference with those two choices.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

import spt
from spt_module.testing import TwoViewImages, assert_same_weights, encode_views, make_trainer

N, BATCH, EMBED, PROJ = 24, 8, 8, 6
STEPS = N // BATCH
LAMBDA = 5e-3
OPTIM = {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to ~1e-15


def _build() -> spt.Module:
    torch.manual_seed(0)
    module = spt.methods.barlow_twins(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        EMBED,
        hidden_dim=16,
        proj_dim=PROJ,
        lambd=LAMBDA,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def barlow_twins_loss(z_a: Tensor, z_b: Tensor, batch_norm: bool) -> Tensor:
    """Algorithm 1's loss; ``batch_norm`` standardises as BatchNorm1d (the authors' code)."""
    n, d = z_a.shape
    if batch_norm:
        z_a_norm = (z_a - z_a.mean(0)) / torch.sqrt(z_a.var(0, unbiased=False) + 1e-5)
        z_b_norm = (z_b - z_b.mean(0)) / torch.sqrt(z_b.var(0, unbiased=False) + 1e-5)
    else:  # the pseudo-code: normalise along the batch dimension
        z_a_norm = (z_a - z_a.mean(0)) / z_a.std(0)
        z_b_norm = (z_b - z_b.mean(0)) / z_b.std(0)
    c = z_a_norm.T @ z_b_norm / n  # cross-correlation matrix, D x D
    c_diff = (c - torch.eye(d, dtype=c.dtype)).pow(2)
    weights = torch.full((d, d), LAMBDA, dtype=c.dtype)
    weights.fill_diagonal_(1.0)  # multiply off-diagonal elements of c_diff by lambda
    return (c_diff * weights).sum()


def barlow_twins_loop(f: nn.Module, *, joint: bool, batch_norm: bool) -> None:
    """Algorithm 1 of Barlow Twins for STEPS steps: f = projector(backbone)."""
    optimizer = torch.optim.SGD(f.parameters(), **{k: v for k, v in OPTIM.items() if k != "type"})
    for x1, x2 in TwoViewImages(N).batches(BATCH):
        z_a, z_b = encode_views(f, x1, x2, joint)
        loss = barlow_twins_loss(z_a, z_b, batch_norm)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _fit(module: spt.Module) -> None:
    make_trainer(max_epochs=1).fit(module, DataLoader(TwoViewImages(N), batch_size=BATCH))


def _networks(module: spt.Module) -> nn.Module:
    return nn.Sequential(copy.deepcopy(module.backbone), copy.deepcopy(module.projector))


def test_barlow_twins_steps_match_plain_loop() -> None:
    module = _build()
    f = _networks(module)
    initial = copy.deepcopy(f.state_dict())
    barlow_twins_loop(f, joint=True, batch_norm=True)

    _fit(module)

    assert_same_weights(module.backbone, f[0], "backbone", **TOL)
    assert_same_weights(module.projector, f[1], "projector", **TOL)
    moved = [k for k, v in initial.items() if not torch.equal(v, f.state_dict()[k])]
    assert moved  # the steps changed the weights: the comparison is not of initial values


def test_barlow_twins_standardisation_is_batch_norms_not_the_unbiased_std() -> None:
    """spt's loss is the pseudo-code's with BatchNorm1d statistics instead of ``z.std(0)``."""
    module = _build()
    x1, x2 = next(TwoViewImages(N).batches(BATCH))
    out = module([{"image": x1}, {"image": x2}], "fit")
    f = nn.Sequential(module.backbone, module.projector)
    z_a, z_b = encode_views(f, x1, x2, joint=True)
    batch_norm, paper = barlow_twins_loss(z_a, z_b, True), barlow_twins_loss(z_a, z_b, False)
    torch.testing.assert_close(out["loss"], batch_norm, rtol=1e-12, atol=1e-12)
    assert abs((paper - batch_norm).item()) > 1e-3


def test_barlow_twins_paper_exact_loop_ends_elsewhere_than_spt() -> None:
    """The pseudo-code's steps (per-view batch norm, unbiased std) do not match spt's."""
    module = _build()
    _fit(module)
    for joint, batch_norm in [(False, True), (True, False)]:
        f = _networks(_build())
        barlow_twins_loop(f, joint=joint, batch_norm=batch_norm)
        gap = max(
            (a - b).abs().max().item()
            for a, b in zip(module.projector.parameters(), f[1].parameters(), strict=True)
        )
        assert gap > 1e-6, (joint, batch_norm)
