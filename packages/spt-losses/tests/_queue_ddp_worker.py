"""Two steps of the queue-based objectives, on one rank's slice of a fixed global batch.

`compute(group, rank, world)` runs the cases of one group (`"memory_bank"`, `"moco"` or
`"nnclr"`) on rank `rank`'s rows; with `world == 1` it is the single process on the whole
batch. Embeddings come out of a shared `nn.Linear` (the trained encoder) and, for the keys,
a second fixed one (the momentum encoder), in float64. Each case records, per step, the loss,
the encoder's weight gradient (what DDP averages) and the bank after the step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from _gloo import spawn_gloo
from torch import Tensor, nn

from spt_losses import MemoryBank, MoCoV2Loss, MoCoV3Loss, NNCLRLoss, nearest_neighbours

GLOBAL_BATCH = 8
IN_DIM, OUT_DIM = 5, 6
STEPS = 2
DTYPE = torch.float64

Result = dict[str, Tensor]


def _linear(seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(IN_DIM, OUT_DIM).to(DTYPE)


def _views(step: int) -> Tensor:
    gen = torch.Generator().manual_seed(100 + step)
    return torch.randn(2, GLOBAL_BATCH, IN_DIM, generator=gen, dtype=DTYPE)  # (V, B, IN)


def _local(x: Tensor, rank: int, world: int) -> Tensor:
    local = x.shape[1] // world
    return x[:, rank * local : (rank + 1) * local]


def _run_steps(
    rank: int,
    world: int,
    bank: MemoryBank | None,
    step_loss: Callable[[nn.Linear, nn.Linear, Tensor, MemoryBank | None], Tensor],
) -> Result:
    encoder, momentum_encoder = _linear(0), _linear(1)
    momentum_encoder.requires_grad_(False)
    out: Result = {}
    for step in range(STEPS):
        x = _local(_views(step), rank, world)
        encoder.zero_grad()
        loss = step_loss(encoder, momentum_encoder, x, bank)
        loss.backward()
        assert encoder.weight.grad is not None
        out[f"loss{step}"] = loss.detach()
        out[f"w_grad{step}"] = encoder.weight.grad.clone()
        if bank is not None:
            out[f"bank{step}"] = bank.contents().clone()
    return out


def _moco_v2(symmetric: bool) -> Callable[..., Tensor]:
    loss_fn = MoCoV2Loss(temperature=0.2)

    def step(encoder: nn.Linear, key_encoder: nn.Linear, x: Tensor, bank: MemoryBank) -> Tensor:
        q = [F.normalize(encoder(v), dim=1) for v in x]
        with torch.no_grad():
            k = [F.normalize(key_encoder(v), dim=1) for v in x]
        queue = bank.contents()
        if symmetric:
            loss = (loss_fn(q[0], k[1], queue) + loss_fn(q[1], k[0], queue)) / 2
            # one enqueue per view keeps the queue in the same order for any world size
            bank.enqueue(k[1])
            bank.enqueue(k[0])
        else:
            loss = loss_fn(q[0], k[1], queue)
            bank.enqueue(k[1])  # after the loss
        return loss

    return step


def _moco_v3(encoder: nn.Linear, key_encoder: nn.Linear, x: Tensor, bank: None) -> Tensor:
    loss_fn = MoCoV3Loss(temperature=0.3)
    q1, q2 = encoder(x[0]), encoder(x[1])
    with torch.no_grad():
        k1, k2 = key_encoder(x[0]), key_encoder(x[1])
    return loss_fn(q1, k2) + loss_fn(q2, k1)


def _nnclr(encoder: nn.Linear, predictor: nn.Linear, x: Tensor, bank: MemoryBank) -> Tensor:
    loss_fn = NNCLRLoss(temperature=0.1)
    z1, z2 = encoder(x[0]), encoder(x[1])
    p1, p2 = torch.tanh(z1), torch.tanh(z2)  # a fixed "predictor" keeps the case small
    if bank.num_filled:
        support = bank.contents()
        nn1, nn2 = nearest_neighbours(z1, support), nearest_neighbours(z2, support)
    else:  # an empty support set: each projection is its own neighbour
        nn1, nn2 = z1.detach(), z2.detach()
    loss = (loss_fn(nn1, p2) + loss_fn(nn2, p1)) / 2
    bank.enqueue(z1)
    return loss


def _memory_bank(rank: int, world: int) -> Result:
    bank = MemoryBank(12, 3, dtype=DTYPE)
    out: Result = {}
    for step in range(3):  # 24 keys into 12 slots: wraps around
        keys = torch.arange(GLOBAL_BATCH * 3, dtype=DTYPE).reshape(GLOBAL_BATCH, 3) + 100 * step
        local = GLOBAL_BATCH // world
        bank.enqueue(keys[rank * local : (rank + 1) * local])
        out[f"bank{step}"] = bank.contents().clone()
        out[f"ptr{step}"] = bank.ptr.clone()
        out[f"filled{step}"] = bank.filled.clone()
    return out


def compute(group: str, rank: int, world: int) -> dict[str, Result]:
    """Results of every case of `group` on this rank's slice."""
    if group == "memory_bank":
        return {"memory_bank": _memory_bank(rank, world)}
    if group == "moco":
        gen = torch.Generator().manual_seed(7)
        return {
            "moco_v2": _run_steps(
                rank,
                world,
                MemoryBank(16, OUT_DIM, dtype=DTYPE, init="random", generator=gen),
                _moco_v2(symmetric=False),
            ),
            "moco_v2_symmetric": _run_steps(
                rank,
                world,
                MemoryBank(32, OUT_DIM, dtype=DTYPE, init="random", generator=gen),
                _moco_v2(symmetric=True),
            ),
            "moco_v3": _run_steps(rank, world, None, _moco_v3),
        }
    if group == "nnclr":
        return {"nnclr": _run_steps(rank, world, MemoryBank(12, OUT_DIM, dtype=DTYPE), _nnclr)}
    raise ValueError(f"unknown group {group!r}")


def assert_matches(case: str, ranks: list[dict[str, Result]], single: dict[str, Result]) -> None:
    """Mean rank loss and DDP-averaged gradient equal one process's; every rank holds its bank."""
    for step in range(STEPS):
        losses = torch.stack([r[case][f"loss{step}"] for r in ranks])
        torch.testing.assert_close(
            losses.mean(), single[case][f"loss{step}"], rtol=1e-12, atol=1e-12
        )
        grads = torch.stack([r[case][f"w_grad{step}"] for r in ranks])
        torch.testing.assert_close(
            grads.mean(dim=0), single[case][f"w_grad{step}"], rtol=1e-12, atol=1e-12
        )
        if f"bank{step}" in single[case]:
            for r in ranks:
                torch.testing.assert_close(r[case][f"bank{step}"], single[case][f"bank{step}"])


def spawn(out_dir: Path, group: str, world: int = 2) -> list[dict[str, Result]]:
    """Runs `group` in `world` gloo processes and returns each rank's results."""
    return spawn_gloo(functools.partial(compute, group), out_dir, world)
