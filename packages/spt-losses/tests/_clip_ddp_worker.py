"""CLIPLoss on one rank's slice of a fixed global batch of image-text pairs, for the gloo test.

`compute_cases(rank, world)` evaluates each case on rank `rank`'s pairs; with `world == 1` it
is the single process on the whole batch. Image and text embeddings come out of two shared
`nn.Linear` towers and the loss holds the learned temperature, so the gradients of their
weights and of `log_scale` are what DDP would average.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from spt_losses import CLIPLoss

GLOBAL_BATCH = 8
IMAGE_DIM, TEXT_DIM, EMBED_DIM = 5, 7, 6
# the initial temperature, and a scale above the clamp (no gradient to the temperature)
CASES = {"initial_scale": math.log(1 / 0.07), "clamped_scale": math.log(150.0)}


def _evaluate(rank: int, world: int, log_scale: float, dtype: torch.dtype) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(5)
    images_all = torch.randn(GLOBAL_BATCH, IMAGE_DIM, generator=gen).to(dtype)
    texts_all = torch.randn(GLOBAL_BATCH, TEXT_DIM, generator=gen).to(dtype)
    local = GLOBAL_BATCH // world
    rows = slice(rank * local, (rank + 1) * local)
    images = images_all[rows].clone().requires_grad_()
    texts = texts_all[rows].clone().requires_grad_()
    torch.manual_seed(0)
    image_tower = nn.Linear(IMAGE_DIM, EMBED_DIM).to(dtype)
    text_tower = nn.Linear(TEXT_DIM, EMBED_DIM).to(dtype)
    loss_fn = CLIPLoss().to(dtype)
    with torch.no_grad():
        loss_fn.log_scale.fill_(log_scale)
    loss = loss_fn(image_tower(images), text_tower(texts))
    loss.backward()
    grads = {
        "image_grad": images.grad,
        "text_grad": texts.grad,
        "image_w_grad": image_tower.weight.grad,
        "text_w_grad": text_tower.weight.grad,
        "log_scale_grad": loss_fn.log_scale.grad,
    }
    out: dict[str, Tensor] = {"loss": loss.detach()}
    for key, grad in grads.items():
        assert grad is not None, key
        out[key] = grad
    return out


def compute_cases(rank: int, world: int) -> dict[str, dict[str, Tensor]]:
    """Loss value and gradients of every case, in float32 and float64, on this rank."""
    results = {}
    for name, log_scale in CASES.items():
        for dtype in (torch.float32, torch.float64):
            key = f"{name}_{str(dtype).removeprefix('torch.')}"
            results[key] = _evaluate(rank, world, log_scale, dtype)
    return results
