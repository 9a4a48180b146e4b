"""Three NNCLR steps through spt.Module equal the paper's method written out by hand.

The reference follows the paper: projections z and predictions p of two views, the
nearest neighbour (cosine) of each projection in the support set as its positive (each
projection is its own neighbour while the set is empty), the symmetric InfoNCE
`(L(NN(z1), p2) + L(NN(z2), p1)) / 2`, an optimizer step, then view 1's normalised
projections replace the oldest entries of the support set. As in spt's forward functions,
the two views go through each network in one call (batch norm sees both).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

import spt
from spt_module.testing import TwoViewImages, make_trainer

N, BATCH, EMBED, PROJ = 24, 8, 8, 6
SUPPORT = 12  # wraps around at the second enqueue
TEMPERATURE = 0.1
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to rounding


def _build() -> spt.Module:
    torch.manual_seed(0)
    module = spt.methods.nnclr(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        EMBED,
        hidden_dim=16,
        proj_dim=PROJ,
        pred_hidden_dim=16,
        support_size=SUPPORT,
        temperature=TEMPERATURE,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def _fit(module: spt.Module) -> None:
    loader = DataLoader(TwoViewImages(N), batch_size=BATCH, shuffle=False)
    make_trainer(max_epochs=1).fit(module, loader)


def nnclr_loop(encoder: nn.Module, predictor: nn.Module) -> tuple[Tensor, int]:
    """The paper's training step, three times; returns the support set and its pointer."""
    params = [*encoder.parameters(), *predictor.parameters()]
    optimizer = torch.optim.SGD(params, **{k: v for k, v in OPTIM.items() if k != "type"})
    support = torch.zeros(SUPPORT, PROJ, dtype=torch.float64)
    filled, ptr = 0, 0

    def nn_of(z: Tensor) -> Tensor:  # NN(z, Q) by cosine similarity, no gradient
        if filled == 0:
            return z.detach()
        q = support[:filled]
        return q[(F.normalize(z, dim=1) @ F.normalize(q, dim=1).T).argmax(dim=1)].detach()

    def infonce(u: Tensor, v: Tensor) -> Tensor:  # Eq. 2 of the paper
        logits = F.normalize(u, dim=1) @ F.normalize(v, dim=1).T / TEMPERATURE
        return F.cross_entropy(logits, torch.arange(u.shape[0]))

    for x1, x2 in TwoViewImages(N).batches(BATCH):
        z = encoder(torch.cat([x1, x2]))
        p = predictor(z)
        z1, z2, p1, p2 = z[:BATCH], z[BATCH:], p[:BATCH], p[BATCH:]
        loss = (infonce(nn_of(z1), p2) + infonce(nn_of(z2), p1)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for i, row in enumerate(F.normalize(z1.detach(), dim=1)):  # first in, first out
            support[(ptr + i) % SUPPORT] = row
        ptr, filled = (ptr + BATCH) % SUPPORT, min(filled + BATCH, SUPPORT)
    return support, ptr


def test_nnclr_steps_match_plain_loop() -> None:
    module = _build()
    encoder = nn.Sequential(copy.deepcopy(module.backbone), copy.deepcopy(module.projector))
    predictor = copy.deepcopy(module.predictor)
    support, ptr = nnclr_loop(encoder, predictor)

    _fit(module)

    for ours, theirs, name in [
        (module.backbone, encoder[0], "backbone"),
        (module.projector, encoder[1], "projector"),
        (module.predictor, predictor, "predictor"),
    ]:
        for (key, a), b in zip(
            ours.state_dict().items(), theirs.state_dict().values(), strict=True
        ):
            torch.testing.assert_close(a, b, **TOL, msg=lambda m, k=f"{name}.{key}": f"{k}: {m}")
    torch.testing.assert_close(module.support_set.bank, support, **TOL)
    assert int(module.support_set.ptr) == ptr
    assert module.support_set.full


def test_nnclr_without_a_support_set_fails_at_the_first_step_naming_the_builder() -> None:
    module = _build()
    del module.support_set
    with pytest.raises(AttributeError, match=r"no 'support_set'.*spt\.methods\.nnclr\(backbone"):
        _fit(module)


def test_nnclr_support_set_must_be_a_memory_bank() -> None:
    module = _build()
    module.support_set = nn.Identity()
    with pytest.raises(TypeError, match=r"self\.support_set must be spt\.losses\.MemoryBank"):
        _fit(module)
