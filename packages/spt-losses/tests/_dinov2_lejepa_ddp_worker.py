"""Cross-rank cases of DINOv2 (Sinkhorn-Knopp centring, iBOT patch loss and centre) and
LeJEPA (SIGReg), shared by the 2-process gloo run and the single-process reference.

`compute_cases(rank, world)` evaluates every case on rank `rank`'s rows of a fixed global
batch; with `world == 1` it is one process on the whole batch. Rows may be split unevenly
(`SPLITS`): SIGReg and Sinkhorn-Knopp must not assume equal batches, and DINOv2's ranks hold
different numbers of masked patches. Embeddings come out of one shared `nn.Linear`, so its
weight gradient is what DDP would average.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from spt_losses import DINOLoss, IBOTPatchLoss, LeJEPALoss, SIGReg, sinkhorn_knopp

GLOBAL_BATCH = 8
IN_DIM, OUT_DIM = 5, 6
PATCHES = 6
F64 = torch.float64

# rows of the global batch on each rank, for 2 processes: even, uneven, one rank empty
SPLITS = {"even": [4, 4], "uneven": [5, 3], "empty": [8, 0]}


def rows(t: Tensor, rank: int, world: int, split: str = "even", dim: int = 0) -> Tensor:
    """This rank's rows of `t` along `dim` (all of them in one process)."""
    if world == 1:
        return t
    sizes = SPLITS[split]
    start = sum(sizes[:rank])
    return t.narrow(dim, start, sizes[rank])


def _evaluate(
    rank: int,
    world: int,
    lead: tuple[int, ...],
    loss_of: Callable[[Tensor], Tensor],
    seed: int,
    split: str = "even",
) -> dict[str, Tensor]:
    """Loss and gradients for inputs of shape (*lead[:1], GLOBAL_BATCH, *lead[1:], IN_DIM)."""
    gen = torch.Generator().manual_seed(seed)
    x_all = torch.randn(lead[0], GLOBAL_BATCH, *lead[1:], IN_DIM, generator=gen, dtype=F64)
    x = rows(x_all, rank, world, split, dim=1).clone().requires_grad_()
    torch.manual_seed(0)
    proj = nn.Linear(IN_DIM, OUT_DIM).to(F64)
    loss = loss_of(proj(x))
    loss.backward()
    assert x.grad is not None
    assert proj.weight.grad is not None
    return {"loss": loss.detach(), "x_grad": x.grad, "w_grad": proj.weight.grad}


def _patch_mask() -> Tensor:
    """(GLOBAL_BATCH, PATCHES): the first 4 images (rank 0) mask many patches, the last 4
    (rank 1) few, one of them none."""
    counts = [5, 4, 6, 3, 1, 0, 2, 1]
    gen = torch.Generator().manual_seed(1)
    mask = torch.zeros(GLOBAL_BATCH, PATCHES, dtype=torch.bool)
    for b, count in enumerate(counts):
        mask[b, torch.randperm(PATCHES, generator=gen)[:count]] = True
    return mask


def compute_cases(rank: int, world: int) -> dict[str, dict[str, Tensor]]:
    """Values and gradients of every case on this rank's rows."""
    gen = torch.Generator().manual_seed(5)
    teacher = torch.randn(2, GLOBAL_BATCH, OUT_DIM, generator=gen, dtype=F64)
    teacher_patches = torch.randn(GLOBAL_BATCH, PATCHES, OUT_DIM, generator=gen, dtype=F64)
    scores = torch.randn(GLOBAL_BATCH, OUT_DIM, generator=gen, dtype=F64)
    mask = rows(_patch_mask(), rank, world)
    local_teacher = [rows(t, rank, world) for t in teacher]
    local_patches = rows(teacher_patches, rank, world)

    dino = DINOLoss(OUT_DIM, teacher_temp=0.05, centering="sinkhorn_knopp")
    ibot_sk = IBOTPatchLoss(OUT_DIM, teacher_temp=0.05, centering="sinkhorn_knopp")
    ibot = IBOTPatchLoss(OUT_DIM, teacher_temp=0.05)
    ibot.center.copy_(0.2 * torch.randn(1, OUT_DIM, generator=gen))
    sigreg = SIGReg(num_slices=8)
    lejepa = LeJEPALoss(lambd=0.3, num_slices=8)

    results = {
        "dino_sinkhorn": _evaluate(
            rank, world, (4,), lambda z: dino(list(z), local_teacher), seed=1
        ),
        "ibot_sinkhorn": _evaluate(
            rank, world, (1, PATCHES), lambda z: ibot_sk(z[0], local_patches, mask), seed=2
        ),
        "ibot_center": _evaluate(
            rank, world, (1, PATCHES), lambda z: ibot(z[0], local_patches, mask), seed=2
        ),
        "lejepa": _evaluate(rank, world, (3,), lambda z: lejepa(list(z), 2, step=4), seed=3),
    }
    for split in SPLITS:
        results[f"sigreg_{split}"] = _evaluate(
            rank, world, (1,), lambda z: sigreg(z[0], step=2), seed=4, split=split
        )
        results[f"sinkhorn_{split}"] = {
            "codes": sinkhorn_knopp(rows(scores, rank, world, split), epsilon=0.05)
        }
    ibot.update_center(local_patches)
    results["ibot_center_update"] = {"center": ibot.center.clone()}
    return results
