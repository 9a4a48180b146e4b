"""Three VICReg steps through spt.Module equal the paper's pseudo-code written out by hand.

The reference follows Algorithm 1 of Bardes et al. (2022): the invariance (mean squared
error), the variance hinge ``relu(1 - sqrt(var + 1e-4))`` and the off-diagonal covariance
``sum C_jk^2 / D`` of each branch, ``lambda * sim + mu * std + nu * cov``, then an optimizer
step.

spt differs from the pseudo-code in two ways that change the trajectory, both as in the
authors' training code and both checked below:

- the variance term is the mean of the two branches' hinges (the code's ``/ 2``), where the
  pseudo-code sums them;
- both views go through the network in one call (``spt.forward.vicreg_forward``), so batch
  norm sees the 2B samples, where the pseudo-code (and the authors' code) encodes each
  view on its own.

``test_vicreg_steps_match_plain_loop`` runs the reference with those two choices.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

import spt
from spt_module.testing import TwoViewImages, assert_same_weights, encode_views, make_trainer

N, BATCH, EMBED, PROJ = 24, 8, 8, 6
STEPS = N // BATCH
LAMBDA, MU, NU = 25.0, 25.0, 1.0
OPTIM = {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to ~1e-15


def _build() -> spt.Module:
    torch.manual_seed(0)
    module = spt.methods.vicreg(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        EMBED,
        hidden_dim=16,
        proj_dim=PROJ,
        sim_coeff=LAMBDA,
        std_coeff=MU,
        cov_coeff=NU,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def off_diagonal(c: Tensor) -> Tensor:
    """The off-diagonal entries of a square matrix, flattened."""
    d = c.shape[0]
    return c.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()


def vicreg_loss(z_a: Tensor, z_b: Tensor, std_halved: bool) -> Tensor:
    """Algorithm 1's loss; ``std_halved`` averages the two variance hinges (authors' code)."""
    n, d = z_a.shape
    sim_loss = F.mse_loss(z_a, z_b)  # invariance
    std_z_a = torch.sqrt(z_a.var(dim=0) + 1e-04)  # variance
    std_z_b = torch.sqrt(z_b.var(dim=0) + 1e-04)
    std_loss = torch.mean(F.relu(1 - std_z_a)) + torch.mean(F.relu(1 - std_z_b))
    if std_halved:
        std_loss = std_loss / 2
    z_a = z_a - z_a.mean(dim=0)  # covariance
    z_b = z_b - z_b.mean(dim=0)
    cov_z_a = (z_a.T @ z_a) / (n - 1)
    cov_z_b = (z_b.T @ z_b) / (n - 1)
    cov_loss = off_diagonal(cov_z_a).pow(2).sum() / d + off_diagonal(cov_z_b).pow(2).sum() / d
    return LAMBDA * sim_loss + MU * std_loss + NU * cov_loss


def vicreg_loop(f: nn.Module, *, joint: bool, std_halved: bool) -> None:
    """Algorithm 1 of VICReg for STEPS steps: f = projector(backbone)."""
    optimizer = torch.optim.SGD(f.parameters(), **{k: v for k, v in OPTIM.items() if k != "type"})
    for x1, x2 in TwoViewImages(N).batches(BATCH):
        z_a, z_b = encode_views(f, x1, x2, joint)
        loss = vicreg_loss(z_a, z_b, std_halved)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _fit(module: spt.Module) -> None:
    make_trainer(max_epochs=1).fit(module, DataLoader(TwoViewImages(N), batch_size=BATCH))


def _networks(module: spt.Module) -> nn.Module:
    return nn.Sequential(copy.deepcopy(module.backbone), copy.deepcopy(module.projector))


def test_vicreg_steps_match_plain_loop() -> None:
    module = _build()
    f = _networks(module)
    initial = copy.deepcopy(f.state_dict())
    vicreg_loop(f, joint=True, std_halved=True)

    _fit(module)

    assert_same_weights(module.backbone, f[0], "backbone", **TOL)
    assert_same_weights(module.projector, f[1], "projector", **TOL)
    moved = [k for k, v in initial.items() if not torch.equal(v, f.state_dict()[k])]
    assert moved  # the steps changed the weights: the comparison is not of initial values


def test_vicreg_variance_term_is_half_the_pseudo_codes() -> None:
    """spt's loss equals the pseudo-code's with ``mu / 2`` on the variance hinges."""
    module = _build()
    x1, x2 = next(TwoViewImages(N).batches(BATCH))
    out = module([{"image": x1}, {"image": x2}], "fit")
    f = nn.Sequential(module.backbone, module.projector)
    z_a, z_b = encode_views(f, x1, x2, joint=True)
    halved, paper = vicreg_loss(z_a, z_b, True), vicreg_loss(z_a, z_b, False)
    torch.testing.assert_close(out["loss"], halved, rtol=1e-12, atol=1e-12)
    assert (paper - halved).item() > 1e-3  # the variance hinges are active here


def test_vicreg_paper_exact_loop_ends_elsewhere_than_spt() -> None:
    """The pseudo-code's steps (per-view batch norm, summed hinges) do not match spt's."""
    module = _build()
    _fit(module)
    for joint, std_halved in [(False, True), (True, False)]:
        f = _networks(_build())
        vicreg_loop(f, joint=joint, std_halved=std_halved)
        gap = max(
            (a - b).abs().max().item()
            for a, b in zip(module.projector.parameters(), f[1].parameters(), strict=True)
        )
        assert gap > 1e-6, (joint, std_halved)
