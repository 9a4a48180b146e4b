"""Three SimCLR steps through spt.Module equal the paper's pseudo-code written out by hand.

The reference follows Algorithm 1 of Chen et al. (2020): the 2N augmented samples go
through ``f`` and ``g``, the cosine similarities ``s_ij`` of all pairs, the loss
``l(i, j) = -log(exp(s_ij / t) / sum_{k != i} exp(s_ik / t))`` averaged over the 2N
ordered positive pairs, then an optimizer step. The 2N samples pass through the network as
one batch, as in the paper (its batch norm is global over the 2N samples) and in
``spt.forward.simclr_forward``.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

import spt
from spt_module.testing import TwoViewImages, assert_same_weights, make_trainer

N, BATCH, EMBED, PROJ = 24, 8, 8, 6
STEPS = N // BATCH
TEMPERATURE = 0.5
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to ~1e-15


def _build() -> spt.Module:
    torch.manual_seed(0)
    module = spt.methods.simclr(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        EMBED,
        hidden_dim=16,
        proj_dim=PROJ,
        temperature=TEMPERATURE,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def nt_xent(z: Tensor, t: float) -> Tensor:
    """Algorithm 1's loss over 2N projections ordered (view 1 of all samples, view 2 of all)."""
    n2 = z.shape[0]
    n = n2 // 2
    total = z.new_zeros(())
    for i in range(n2):
        j = (i + n) % n2  # the other view of the same sample
        sims = [
            torch.dot(z[i], z[k]) / (z[i].norm() * z[k].norm()) for k in range(n2)
        ]  # s_ik, cosine similarity
        denominator = sum(torch.exp(sims[k] / t) for k in range(n2) if k != i)
        total = total - torch.log(torch.exp(sims[j] / t) / denominator)
    return total / n2


def simclr_loop(f: nn.Module, g: nn.Module) -> None:
    """Algorithm 1 of SimCLR for STEPS steps: f = backbone, g = projection head."""
    params = [*f.parameters(), *g.parameters()]
    optimizer = torch.optim.SGD(params, **{k: v for k, v in OPTIM.items() if k != "type"})
    for x1, x2 in TwoViewImages(N).batches(BATCH):
        z = g(f(torch.cat([x1, x2])))  # the 2N augmented samples
        loss = nt_xent(z, TEMPERATURE)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_simclr_steps_match_plain_loop() -> None:
    module = _build()
    f, g = copy.deepcopy(module.backbone), copy.deepcopy(module.projector)
    initial = copy.deepcopy(f.state_dict())
    simclr_loop(f, g)

    make_trainer(max_epochs=1).fit(module, DataLoader(TwoViewImages(N), batch_size=BATCH))

    assert_same_weights(module.backbone, f, "backbone", **TOL)
    assert_same_weights(module.projector, g, "projector", **TOL)
    moved = [k for k, v in initial.items() if not torch.equal(v, f.state_dict()[k])]
    assert moved  # the steps changed the weights: the comparison is not of initial values


def test_simclr_reference_loss_is_the_log_of_2n_minus_1_for_identical_projections() -> None:
    """A sanity check of the written-out formula: all-equal projections give log(2N - 1)."""
    z = torch.ones(2 * BATCH, PROJ, dtype=torch.float64)
    expected = math.log(2 * BATCH - 1)
    torch.testing.assert_close(nt_xent(z, TEMPERATURE).item(), expected, rtol=0, atol=1e-12)
