"""SwAV computations shared by the 2-process gloo run and the single-process reference.

`compute_swav(rank, world)` evaluates the Sinkhorn codes and the SwAV loss (with and without
a queue) on rank `rank`'s slice of a fixed global batch; with `world == 1` it is one
process on the whole batch. Projections come out of one shared `nn.Linear`, scores out of
one shared `Prototypes`, so their weight gradients are what DDP would average.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses import MemoryBank, Prototypes, SwAVLoss, sinkhorn_knopp

GLOBAL_BATCH = 8
IN_DIM, DIM, K = 5, 6, 4
N_CROPS = 4  # 2 global + 2 local
QUEUE = 16  # two global batches


def _rows(t: Tensor, rank: int, world: int) -> Tensor:
    local = t.shape[-2] // world
    return t[..., rank * local : (rank + 1) * local, :]


def _loss_case(rank: int, world: int, dtype: torch.dtype, with_queue: bool) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(7)
    x_all = torch.randn(N_CROPS, GLOBAL_BATCH, IN_DIM, generator=gen).to(dtype)
    earlier = torch.randn(2, GLOBAL_BATCH, 2, DIM, generator=gen).to(dtype)  # 2 past batches
    torch.manual_seed(0)
    proj = nn.Linear(IN_DIM, DIM).to(dtype)
    prototypes = Prototypes(DIM, num_prototypes=K).to(dtype)
    prototypes.normalize_()
    x = _rows(x_all, rank, world).clone().requires_grad_()
    z = F.normalize(proj(x), dim=-1)  # (V, B_local, DIM)
    scores = [prototypes(z[v]) for v in range(N_CROPS)]
    queue_scores = None
    if with_queue:
        bank = MemoryBank(QUEUE, (2, DIM), dtype=dtype)
        for past in earlier:  # each rank enqueues its rows; the bank gathers them
            bank.enqueue(_rows(past.transpose(0, 1), rank, world).transpose(0, 1).contiguous())
        items = bank.contents()  # (QUEUE, 2, DIM), the same on every rank
        queue_scores = [prototypes(items[:, i]) for i in range(2)]
    loss = SwAVLoss(temperature=0.1)(scores, queue_scores=queue_scores)
    loss.backward()
    assert x.grad is not None
    assert proj.weight.grad is not None
    assert prototypes.weight.grad is not None
    return {
        "loss": loss.detach(),
        "x_grad": x.grad,
        "w_grad": proj.weight.grad,
        "prototype_grad": prototypes.weight.grad,
    }


def compute_swav(rank: int, world: int) -> dict[str, dict[str, Tensor]]:
    """Codes, loss and gradients of every case on this rank's slice."""
    gen = torch.Generator().manual_seed(3)
    scores = 0.5 * torch.randn(GLOBAL_BATCH, K, generator=gen, dtype=torch.float64)
    shared = 0.5 * torch.randn(6, K, generator=gen, dtype=torch.float64)
    return {
        "codes": {"codes": sinkhorn_knopp(_rows(scores, rank, world))},
        "codes_shared": {"codes": sinkhorn_knopp(_rows(scores, rank, world), shared_scores=shared)},
        "loss": _loss_case(rank, world, torch.float64, with_queue=False),
        "loss_queue": _loss_case(rank, world, torch.float64, with_queue=True),
        "loss_float32": _loss_case(rank, world, torch.float32, with_queue=True),
    }
