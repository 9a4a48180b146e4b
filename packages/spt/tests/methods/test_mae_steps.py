"""Three MAE steps through spt.Module equal the paper's recipe written out by hand.

The reference follows He et al. (2022), section 3: cut the image into patches, shuffle
them per sample with uniform noise and keep the first 25%, encode the kept patches (with
their fixed sin-cos position embeddings and a class token), append mask tokens, unshuffle,
decode, and take the mean squared error on the masked patches only, against per-patch
normalised pixels (``norm_pix_loss``). The transformer blocks are the module's own (their
attention is tested against a slow formula in the backbone tests); the patching, masking,
unshuffling and loss are written here. The masking noise is drawn from the global
generator, seeded the same way for both runs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt_module.testing import assert_same_weights, make_trainer

N, BATCH, SIZE, PATCH, DIM = 24, 8, 8, 4, 8
STEPS = N // BATCH
MASK_RATIO = 0.75
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to ~1e-15


class Images(Dataset[dict[str, Any]]):
    """Fixed 8x8 images, float64."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.images = torch.randn(N, 1, SIZE, SIZE, generator=gen, dtype=torch.float64)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i], "label": i % 3}


def _build(norm_pix_loss: bool) -> spt.Module:
    torch.manual_seed(0)
    vit = spt.backbone.VisionTransformer(
        SIZE, PATCH, in_channels=1, dim=DIM, depth=1, heads=2, pos_embed="sincos"
    )
    module = spt.methods.mae(
        vit,
        DIM,
        decoder_dim=DIM,
        decoder_depth=1,
        decoder_heads=2,
        mask_ratio=MASK_RATIO,
        norm_pix_loss=norm_pix_loss,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def _loader() -> DataLoader[Any]:
    return DataLoader(Images(), batch_size=BATCH, shuffle=False)


def patches_of(x: Tensor) -> Tensor:
    """(B, 1, H, W) -> (B, L, PATCH * PATCH), patches in row-major order."""
    b = x.shape[0]
    rows = x[:, 0].unfold(1, PATCH, PATCH).unfold(2, PATCH, PATCH)  # (B, h, w, P, P)
    return rows.reshape(b, -1, PATCH * PATCH)


def _blocks(blocks: nn.ModuleList, x: Tensor) -> Tensor:
    for block in blocks:
        x = block(x)
    return x


def mae_loss(encoder: nn.Module, decoder: nn.Module, x: Tensor, norm_pix: bool) -> Tensor:
    """One MAE forward and loss, the masking and the loss written out."""
    tokens = encoder.patch_embed(x).flatten(2).transpose(1, 2) + encoder.pos_embed[:, 1:]
    b, length = tokens.shape[:2]
    keep = int(length * (1 - MASK_RATIO))
    noise = torch.rand(b, length)  # uniform noise: a random shuffle per sample
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    visible = torch.stack([tokens[i, ids_shuffle[i, :keep]] for i in range(b)])
    cls = encoder.cls_token + encoder.pos_embed[:, :1]
    sequence = torch.cat([cls.expand(b, -1, -1), visible], dim=1)
    latent = encoder.norm(_blocks(encoder.blocks, sequence))

    y = decoder.embed(latent)
    filled = torch.cat([y[:, 1:], decoder.mask_token.expand(b, length - keep, -1)], dim=1)
    unshuffled = torch.stack([filled[i, ids_restore[i]] for i in range(b)])  # patch order
    y = torch.cat([y[:, :1], unshuffled], dim=1) + decoder.pos_embed
    pred = decoder.head(decoder.norm(_blocks(decoder.blocks, y)))[:, 1:]  # (B, L, P * P)

    target = patches_of(x)
    if norm_pix:  # normalised pixels of each patch
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1.0e-6) ** 0.5
    mask = torch.ones(b, length, dtype=x.dtype)
    for i in range(b):
        mask[i, ids_shuffle[i, :keep]] = 0  # 0 = kept, 1 = removed
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # mean loss per patch
    return (per_patch * mask).sum() / mask.sum()  # mean loss on removed patches


def mae_loop(encoder: nn.Module, decoder: nn.Module, norm_pix: bool) -> None:
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.SGD(params, **{k: v for k, v in OPTIM.items() if k != "type"})
    torch.manual_seed(1)
    batches: Iterator[dict[str, Any]] = iter(_loader())  # draws from the generator as fit does
    for batch in batches:
        loss = mae_loss(encoder, decoder, batch["image"], norm_pix)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("norm_pix_loss", [True, False], ids=["norm_pix", "raw_pixels"])
def test_mae_steps_match_plain_loop(norm_pix_loss: bool) -> None:
    module = _build(norm_pix_loss)
    encoder, decoder = copy.deepcopy(module.backbone), copy.deepcopy(module.decoder)
    initial = copy.deepcopy(encoder.state_dict())
    mae_loop(encoder, decoder, norm_pix_loss)

    torch.manual_seed(1)
    make_trainer(max_epochs=1).fit(module, _loader())

    assert_same_weights(module.backbone, encoder, "backbone", **TOL)
    assert_same_weights(module.decoder, decoder, "decoder", **TOL)
    moved = [k for k, v in initial.items() if not torch.equal(v, encoder.state_dict()[k])]
    assert moved  # the steps changed the weights: the comparison is not of initial values


def test_fit_embedding_is_the_class_token_of_the_whole_image() -> None:
    module = _build(norm_pix_loss=True).train()
    images = Images().images[:BATCH]
    out = module.forward({"image": images, "label": torch.zeros(BATCH)}, "fit")
    with torch.no_grad():
        whole = module.backbone(images)
    torch.testing.assert_close(out["embedding"], whole, rtol=0.0, atol=1e-12)
    assert not out["embedding"].requires_grad  # no graph kept for the callbacks' features
    assert out["loss"].requires_grad


def test_masking_is_independent_per_sample() -> None:
    from spt.forward._mae import random_keep

    torch.manual_seed(0)
    kept = random_keep(64, 16, 0.75, torch.device("cpu"))
    assert kept.shape == (64, 4)
    assert all(len(set(row.tolist())) == 4 for row in kept)  # no patch kept twice
    assert len({tuple(sorted(row.tolist())) for row in kept}) > 32  # samples differ
    counts = torch.bincount(kept.flatten(), minlength=16)
    assert counts.min() > 0  # every patch is kept by some sample


def test_only_the_masking_draws_random_numbers() -> None:
    module = _build(norm_pix_loss=True)
    images = Images().images[:BATCH]
    state = torch.get_rng_state()
    module.backbone(images)  # the un-masked forward draws nothing
    assert torch.equal(torch.get_rng_state(), state)
    module.forward({"image": images}, "fit")
    torch.set_rng_state(state)
    torch.rand(BATCH, (SIZE // PATCH) ** 2)  # the one draw of a step: the masking noise
    after_one_draw = torch.get_rng_state()
    torch.set_rng_state(state)
    module.forward({"image": images}, "fit")
    assert torch.equal(torch.get_rng_state(), after_one_draw)
