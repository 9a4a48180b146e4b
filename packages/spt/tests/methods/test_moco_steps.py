"""Three MoCo v2 / v3 steps through spt.Module equal the papers' pseudo-code written out by hand.

The references follow Algorithm 1 of each paper: queries from the trained encoder, keys from
the momentum encoder without gradient, InfoNCE (v2: against the queue; v3: over the batch,
2 * tau scaled, symmetric), an optimizer step, then the momentum update of the key encoder
(v3: cosine momentum schedule), then (v2) the keys replace the oldest batch in the queue.
As in spt's forward functions, the two views go through each encoder in one call (batch
norm sees both), and the momentum update copies the batch-norm statistics.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

import spt
from spt_module.testing import TwoViewImages, assert_same_weights, make_trainer

N, BATCH, EMBED, PROJ = 24, 8, 8, 6
STEPS = N // BATCH
QUEUE = 16
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to ~1e-15


def _fit(module: spt.Module) -> None:
    loader = DataLoader(TwoViewImages(N), batch_size=BATCH, shuffle=False)
    make_trainer(max_epochs=1).fit(module, loader)


def _sgd(*modules: nn.Module) -> torch.optim.Optimizer:
    params = [p for m in modules for p in m.parameters()]
    return torch.optim.SGD(params, **{k: v for k, v in OPTIM.items() if k != "type"})


@torch.no_grad()
def _momentum_update(key: nn.Module, query: nn.Module, m: float) -> None:
    for pk, pq in zip(key.parameters(), query.parameters(), strict=True):
        pk.copy_(m * pk + (1 - m) * pq)
    for bk, bq in zip(key.buffers(), query.buffers(), strict=True):
        bk.copy_(bq)


def _two_views(encoder: nn.Module, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    out = encoder(torch.cat([x1, x2]))
    return out[:BATCH], out[BATCH:]


# ---------------------------------------------------------------- MoCo v2


def _build_moco_v2(symmetric: bool) -> spt.Module:
    torch.manual_seed(0)
    module = spt.methods.moco_v2(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        EMBED,
        hidden_dim=16,
        proj_dim=PROJ,
        queue_size=QUEUE * (2 if symmetric else 1),
        temperature=0.2,
        momentum=0.9,
        symmetric=symmetric,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def moco_v2_loop(
    f_q: nn.Module, f_k: nn.Module, queue: Tensor, m: float, t: float, symmetric: bool
) -> int:
    """Algorithm 1 of MoCo (with v2's MLP head inside f); returns the queue pointer."""
    optimizer = _sgd(f_q)
    ptr, size = 0, queue.shape[0]

    def infonce(q: Tensor, k: Tensor) -> Tensor:
        l_pos = torch.bmm(q.view(BATCH, 1, PROJ), k.view(BATCH, PROJ, 1)).view(BATCH, 1)
        l_neg = torch.mm(q, queue.T)  # (N, K)
        logits = torch.cat([l_pos, l_neg], dim=1)
        labels = torch.zeros(BATCH, dtype=torch.long)
        return F.cross_entropy(logits / t, labels)

    for x1, x2 in TwoViewImages(N).batches(BATCH):
        q1, q2 = (F.normalize(q, dim=1) for q in _two_views(f_q, x1, x2))
        with torch.no_grad():
            k1, k2 = (F.normalize(k, dim=1) for k in _two_views(f_k, x1, x2))
        loss = (infonce(q1, k2) + infonce(q2, k1)) / 2 if symmetric else infonce(q1, k2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        _momentum_update(f_k, f_q, m)
        for k in [k2, k1] if symmetric else [k2]:  # enqueue the newest, dequeue the oldest
            queue[ptr : ptr + BATCH] = k
            ptr = (ptr + BATCH) % size
    return ptr


@pytest.mark.parametrize("symmetric", [False, True], ids=["paper_asymmetric", "symmetric"])
def test_moco_v2_steps_match_plain_loop(symmetric: bool) -> None:
    module = _build_moco_v2(symmetric)
    f_q = nn.Sequential(
        copy.deepcopy(module.backbone.student), copy.deepcopy(module.projector.student)
    )
    f_k = copy.deepcopy(f_q)  # the key encoder starts as a copy of the query encoder
    # random unit keys, as in the authors' code; drawn in float32, made unit in float64 here
    module.queue.bank.copy_(F.normalize(module.queue.bank, dim=1))
    queue = module.queue.bank.clone()
    assert module.queue.full
    ptr = moco_v2_loop(f_q, f_k, queue, m=0.9, t=0.2, symmetric=symmetric)

    _fit(module)

    assert_same_weights(module.backbone.student, f_q[0], "backbone.student", **TOL)
    assert_same_weights(module.projector.student, f_q[1], "projector.student", **TOL)
    assert_same_weights(module.backbone.teacher, f_k[0], "backbone.teacher", **TOL)
    assert_same_weights(module.projector.teacher, f_k[1], "projector.teacher", **TOL)
    torch.testing.assert_close(module.queue.bank, queue, **TOL)
    assert int(module.queue.ptr) == ptr


def test_moco_v2_momentum_is_constant_and_moves_once_per_step() -> None:
    module = _build_moco_v2(symmetric=False)
    _fit(module)
    assert int(module.backbone.num_updates) == STEPS
    assert module.backbone.momentum == module.projector.momentum == 0.9


# ---------------------------------------------------------------- MoCo v3


def _build_moco_v3() -> spt.Module:
    torch.manual_seed(0)
    module = spt.methods.moco_v3(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        EMBED,
        hidden_dim=16,
        proj_dim=PROJ,
        pred_hidden_dim=16,
        temperature=0.3,
        base_momentum=0.8,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def moco_v3_loop(f_q: nn.Module, g_q: nn.Module, f_k: nn.Module, m0: float, tau: float) -> None:
    """Algorithm 1 of MoCo v3, with its cosine momentum schedule over the STEPS updates."""
    optimizer = _sgd(f_q, g_q)

    def ctr(q: Tensor, k: Tensor) -> Tensor:
        logits = torch.mm(F.normalize(q, dim=1), F.normalize(k, dim=1).t())
        labels = torch.arange(q.shape[0])
        return 2 * tau * F.cross_entropy(logits / tau, labels)

    for step, (x1, x2) in enumerate(TwoViewImages(N).batches(BATCH)):
        q1, q2 = _two_views(nn.Sequential(f_q, g_q), x1, x2)
        with torch.no_grad():
            k1, k2 = _two_views(f_k, x1, x2)
        loss = ctr(q1, k2) + ctr(q2, k1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        m = 1 - (1 - m0) * (math.cos(math.pi * step / STEPS) + 1) / 2
        _momentum_update(f_k, f_q, m)


def test_moco_v3_steps_match_plain_loop() -> None:
    module = _build_moco_v3()
    f_q = nn.Sequential(
        copy.deepcopy(module.backbone.student), copy.deepcopy(module.projector.student)
    )
    g_q = copy.deepcopy(module.predictor)
    f_k = copy.deepcopy(f_q)
    moco_v3_loop(f_q, g_q, f_k, m0=0.8, tau=0.3)

    _fit(module)

    assert module.backbone.total_steps == STEPS
    assert_same_weights(module.backbone.student, f_q[0], "backbone.student", **TOL)
    assert_same_weights(module.projector.student, f_q[1], "projector.student", **TOL)
    assert_same_weights(module.predictor, g_q, "predictor", **TOL)
    assert_same_weights(module.backbone.teacher, f_k[0], "backbone.teacher", **TOL)
    assert_same_weights(module.projector.teacher, f_k[1], "projector.teacher", **TOL)


# ---------------------------------------------------------------- bad input


def test_moco_v2_without_a_queue_fails_at_the_first_step_naming_the_builder() -> None:
    module = _build_moco_v2(symmetric=False)
    del module.queue
    with pytest.raises(AttributeError, match=r"no 'queue'.*spt\.methods\.moco_v2\(backbone"):
        _fit(module)


def test_moco_without_a_momentum_encoder_fails_naming_the_component_and_builder() -> None:
    module = spt.Module(
        forward=spt.forward.moco_v2,
        backbone=spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        projector=nn.Linear(EMBED, PROJ),
        queue=spt.losses.MemoryBank(QUEUE, PROJ),
        moco_v2_loss=spt.losses.MoCoV2Loss(),
    ).double()
    with pytest.raises(
        TypeError, match=r"self\.backbone must be spt\.ema\.TeacherStudent.*moco_v2"
    ):
        _fit(module)


def test_moco_v3_without_a_predictor_fails_naming_the_builder() -> None:
    module = _build_moco_v3()
    del module.predictor
    with pytest.raises(AttributeError, match=r"no 'predictor'.*spt\.methods\.moco_v3"):
        _fit(module)


def test_queue_not_a_multiple_of_the_global_batch_fails_at_the_first_step_with_the_numbers() -> (
    None
):
    torch.manual_seed(0)
    module = spt.methods.moco_v2(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED), EMBED, queue_size=20
    ).double()
    with pytest.raises(ValueError, match=r"size 20 is not a multiple of the global batch 8"):
        _fit(module)
    assert module.backbone.num_updates == 0  # nothing was trained
