"""Computations shared by the 2-process gloo run and the single-process reference.

`compute_cases(rank, world)` evaluates every loss on rank `rank`'s slice of a fixed global
batch; with `world == 1` it is the single process on the whole batch. The embeddings come
out of one shared `nn.Linear`, so its weight gradient is what DDP would average.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from spt_losses import (
    BarlowTwinsLoss,
    DINOLoss,
    MAELoss,
    NegativeCosineSimilarity,
    NTXEntLoss,
    VICRegLoss,
)

GLOBAL_BATCH = 8
IN_DIM, OUT_DIM = 5, 6

Case = Callable[[Tensor], Tensor]


def _projector(dtype: torch.dtype) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(IN_DIM, OUT_DIM).to(dtype)


def _evaluate(
    rank: int,
    world: int,
    n_views: int,
    loss_of: Case,
    extra_dims: tuple[int, ...] = (),
    dtype: torch.dtype = torch.float32,
) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(n_views * 10 + len(extra_dims))
    x_all = torch.randn(n_views, GLOBAL_BATCH, *extra_dims, IN_DIM, generator=gen).to(dtype)
    local = GLOBAL_BATCH // world
    x = x_all[:, rank * local : (rank + 1) * local].clone().requires_grad_()
    proj = _projector(dtype)
    loss = loss_of(proj(x))
    loss.backward()
    assert x.grad is not None
    assert proj.weight.grad is not None
    return {"loss": loss.detach(), "x_grad": x.grad, "w_grad": proj.weight.grad}


def _local_rows(t: Tensor, rank: int, world: int) -> Tensor:
    local = t.shape[0] // world
    return t[rank * local : (rank + 1) * local]


def compute_cases(rank: int, world: int) -> dict[str, dict[str, Tensor]]:
    """Loss value and gradients of every case on this rank's slice."""
    gen = torch.Generator().manual_seed(123)
    queue = torch.randn(5, OUT_DIM, generator=gen)
    targets = torch.randn(GLOBAL_BATCH, OUT_DIM, generator=gen)
    teacher = [torch.randn(GLOBAL_BATCH, OUT_DIM, generator=gen) for _ in range(2)]
    center = 0.2 * torch.randn(1, OUT_DIM, generator=gen)
    mae_target = torch.randn(GLOBAL_BATCH, 3, OUT_DIM, generator=gen)
    mae_mask = torch.zeros(GLOBAL_BATCH, 3, dtype=torch.bool)
    mae_mask[0, :] = True  # rank 0 masks 4 positions, rank 1 masks 1
    mae_mask[1, 0] = True
    mae_mask[GLOBAL_BATCH - 1, 2] = True

    ntxent = NTXEntLoss(temperature=0.3)
    dino = DINOLoss(OUT_DIM, student_temp=0.1, teacher_temp=0.05)
    dino.center.copy_(center)
    local_teacher = [_local_rows(t, rank, world) for t in teacher]

    results = {
        "ntxent_two_views": _evaluate(rank, world, 2, lambda z: ntxent(z[0], z[1])),
        "ntxent_three_views_queue": _evaluate(
            rank, world, 3, lambda z: ntxent(*z, negatives=queue)
        ),
        "negative_cosine": _evaluate(
            rank,
            world,
            1,
            lambda z: NegativeCosineSimilarity()(z[0], _local_rows(targets, rank, world)),
        ),
        "vicreg": _evaluate(rank, world, 2, lambda z: VICRegLoss()(z[0], z[1])),
        "barlow_twins": _evaluate(
            rank, world, 2, lambda z: BarlowTwinsLoss(lambd=0.05)(z[0], z[1])
        ),
        "ntxent_two_views_float64": _evaluate(
            rank, world, 2, lambda z: ntxent(z[0], z[1]), dtype=torch.float64
        ),
        "barlow_twins_float64": _evaluate(
            rank, world, 2, lambda z: BarlowTwinsLoss(lambd=0.05)(z[0], z[1]), dtype=torch.float64
        ),
        "dino": _evaluate(rank, world, 4, lambda z: dino(list(z), local_teacher)),
        "mae": _evaluate(
            rank,
            world,
            1,
            lambda z: MAELoss()(
                z[0], _local_rows(mae_target, rank, world), _local_rows(mae_mask, rank, world)
            ),
            extra_dims=(3,),
        ),
    }
    dino.update_center(local_teacher)
    results["dino_center"] = {"center": dino.center.clone()}
    return results
