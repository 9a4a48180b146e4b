"""SupConLoss on one rank's slice of a fixed global batch, for the 2-process gloo test.

`compute_cases(rank, world)` evaluates each case on rank `rank`'s rows; with `world == 1`
it is the single process on the whole batch. The embeddings come out of one shared
`nn.Linear`, so its weight gradient is what DDP would average.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spt_losses import SupConLoss

GLOBAL_BATCH = 8
IN_DIM, OUT_DIM = 5, 6
# class 3 has one sample (on rank 1); classes 0 and 1 have samples on both ranks
LABELS = torch.tensor([0, 1, 0, 2, 1, 0, 3, 2])
# one view: rank 0 has 4 anchors with a positive, rank 1 has 3 (class 3 is alone)
CASES = {
    "two_views": (2, True),
    "three_views": (3, True),
    "one_view_uneven_positives": (1, True),
    "two_views_no_labels": (2, False),
}


def _evaluate(
    rank: int, world: int, n_views: int, with_labels: bool, dtype: torch.dtype
) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(n_views)
    x_all = torch.randn(n_views, GLOBAL_BATCH, IN_DIM, generator=gen).to(dtype)
    local = GLOBAL_BATCH // world
    rows = slice(rank * local, (rank + 1) * local)
    x = x_all[:, rows].clone().requires_grad_()
    torch.manual_seed(0)
    proj = nn.Linear(IN_DIM, OUT_DIM).to(dtype)
    z = proj(x)
    labels = LABELS[rows] if with_labels else None
    loss = SupConLoss(temperature=0.2)(*z, labels=labels)
    loss.backward()
    assert x.grad is not None
    assert proj.weight.grad is not None
    return {"loss": loss.detach(), "x_grad": x.grad, "w_grad": proj.weight.grad}


def compute_cases(rank: int, world: int) -> dict[str, dict[str, Tensor]]:
    """Loss value and gradients of every case, in float32 and float64, on this rank."""
    results = {}
    for name, (n_views, with_labels) in CASES.items():
        for dtype in (torch.float32, torch.float64):
            key = f"{name}_{str(dtype).removeprefix('torch.')}"
            results[key] = _evaluate(rank, world, n_views, with_labels, dtype)
    return results
