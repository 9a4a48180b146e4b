"""Three I-JEPA steps through spt.Module equal the paper's recipe written out by hand.

The reference follows Assran et al. (2023), section 3: the target encoder (an EMA of the
context encoder) embeds the whole image and its patch tokens are layer-normalised; the
context encoder embeds only the context block's patches (position embeddings added, the
other patches dropped); for each target block the predictor gets the context tokens,
projected to its width and given their positions, followed by one mask token per target
patch carrying that patch's position, and predicts the target features at the mask tokens;
the loss is the distance between predictions and targets averaged over blocks (smooth-L1 in
the authors' code, L2 in the paper's text); an optimizer step on the context encoder and
the predictor, then the EMA of the target encoder with a momentum rising linearly from its
base value to 1 over the run.

The transformer blocks, patch embedding and final norms are the modules' own (attention is
tested against a slow formula in the backbone tests); the masking of tokens, the predictor's
sequence, the normalisation of the targets, the distances and the EMA are written here. The
masks come from the loader's collate function, seeded the same way for both runs.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt_data.masking import MultiBlockMask, MultiBlockMaskCollator
from spt_module.testing import assert_same_weights, make_trainer

N, BATCH, SIZE, PATCH, DIM = 24, 8, 16, 4, 8
STEPS = N // BATCH
GRID = (SIZE // PATCH, SIZE // PATCH)
BASE_MOMENTUM = 0.8
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to ~1e-15


class Images(Dataset[dict[str, Any]]):
    """Fixed 16x16 images, float64."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.images = torch.randn(N, 1, SIZE, SIZE, generator=gen, dtype=torch.float64)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i], "label": i % 3}


def _loader() -> DataLoader[Any]:
    masks = MultiBlockMask(GRID, num_targets=3, min_context=2)
    return DataLoader(Images(), batch_size=BATCH, collate_fn=MultiBlockMaskCollator(masks))


def _build(distance: str) -> spt.Module:
    torch.manual_seed(0)
    vit = spt.backbone.VisionTransformer(
        SIZE, PATCH, in_channels=1, dim=DIM, depth=1, heads=2, pos_embed="sincos",
        class_token=False,
    )  # fmt: skip
    module = spt.methods.ijepa(
        vit,
        DIM,
        predictor_dim=DIM,
        predictor_depth=1,
        distance=distance,
        base_momentum=BASE_MOMENTUM,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def _blocks(blocks: nn.ModuleList, x: Tensor) -> Tensor:
    for block in blocks:
        x = block(x)
    return x


def _rows(x: Tensor, idx: Tensor) -> Tensor:
    """``x[b, idx[b]]`` for every sample: (B, L, D), (B, K) -> (B, K, D)."""
    return torch.stack([x[b, idx[b]] for b in range(x.shape[0])])


def encode(encoder: nn.Module, x: Tensor, keep: Tensor | None = None) -> Tensor:
    """Patch tokens of a ViT without a class token, of the patches in ``keep`` (or all)."""
    tokens = encoder.patch_embed(x).flatten(2).transpose(1, 2) + encoder.pos_embed
    if keep is not None:
        tokens = _rows(tokens, keep)  # the context encoder sees its block only
    return encoder.norm(_blocks(encoder.blocks, tokens))


def predict(predictor: nn.Module, z: Tensor, context: Tensor, target: Tensor) -> Tensor:
    """The predictor on one target block: (B, K_ctx, D) context tokens -> (B, K_tgt, D)."""
    positions = predictor.pos_embed[0]  # (L, d) fixed sin-cos
    x = predictor.embed(z) + positions[context]
    queries = predictor.mask_token + positions[target]  # one mask token per target patch
    y = _blocks(predictor.blocks, torch.cat([x, queries], dim=1))
    return predictor.proj(predictor.norm(y[:, z.shape[1] :]))


def distance(p: Tensor, t: Tensor, kind: str) -> Tensor:
    if kind == "l2":  # the squared L2 distance of each token, averaged over tokens
        return ((p - t) ** 2).sum(dim=-1).mean()
    d = (p - t).abs()  # smooth-L1 with beta 1, averaged over every entry
    return torch.where(d < 1, 0.5 * d**2, d - 0.5).mean()


def ijepa_loss(
    encoder: nn.Module,
    target_encoder: nn.Module,
    predictor: nn.Module,
    batch: dict[str, Any],
    kind: str = "smooth_l1",
) -> Tensor:
    x, context, targets = batch["image"], batch["context_idx"], batch["target_idx"]
    with torch.no_grad():
        h = encode(target_encoder, x)
        h = F.layer_norm(h, (h.shape[-1],))  # normalised targets, no affine parameters
    z = encode(encoder, x, context)
    losses = [
        distance(predict(predictor, z, context, target), _rows(h, target), kind)
        for target in targets
    ]
    return sum(losses) / len(losses)


def ijepa_loop(
    encoder: nn.Module, target_encoder: nn.Module, predictor: nn.Module, kind: str
) -> None:
    params = [*encoder.parameters(), *predictor.parameters()]
    optimizer = torch.optim.SGD(params, **{k: v for k, v in OPTIM.items() if k != "type"})
    torch.manual_seed(1)
    for k, batch in enumerate(_loader()):  # the masks are drawn as fit draws them
        loss = ijepa_loss(encoder, target_encoder, predictor, batch, kind)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        m = BASE_MOMENTUM + (1.0 - BASE_MOMENTUM) * k / STEPS  # linear, 0.8 -> 1
        with torch.no_grad():
            for pt, ps in zip(target_encoder.parameters(), encoder.parameters(), strict=True):
                pt.copy_(m * pt + (1 - m) * ps)


@pytest.mark.parametrize("kind", ["smooth_l1", "l2"])
def test_ijepa_steps_match_plain_loop(kind: str) -> None:
    module = _build(kind)
    encoder = copy.deepcopy(module.backbone.student)
    target_encoder = copy.deepcopy(module.backbone.teacher)
    predictor = copy.deepcopy(module.predictor)
    initial = copy.deepcopy(encoder.state_dict())
    ijepa_loop(encoder, target_encoder, predictor, kind)

    torch.manual_seed(1)
    make_trainer(max_epochs=1).fit(module, _loader())

    assert int(module.backbone.num_updates) == STEPS == module.backbone.total_steps
    assert_same_weights(module.backbone.student, encoder, "context_encoder", **TOL)
    assert_same_weights(module.predictor, predictor, "predictor", **TOL)
    assert_same_weights(module.backbone.teacher, target_encoder, "target_encoder", **TOL)
    moved = [k for k, v in initial.items() if not torch.equal(v, encoder.state_dict()[k])]
    assert moved  # the steps changed the weights: the comparison is not of initial values


def test_predictor_positions_are_the_fixed_sincos_table() -> None:
    predictor = _build("smooth_l1").predictor
    table = spt.backbone.sincos_pos_embed_2d(DIM, GRID).double()  # built in float32
    torch.testing.assert_close(predictor.pos_embed[0], table, **TOL)
    assert not any(p is predictor.pos_embed for p in predictor.parameters())


def test_embedding_is_the_mean_of_the_target_encoders_patch_tokens() -> None:
    module = _build("smooth_l1")
    with torch.no_grad():  # a target encoder that differs from the context encoder
        for p in module.backbone.teacher.parameters():
            p.add_(0.1)
    batch = next(iter(_loader()))
    out = module.forward(batch, "fit")
    expected = encode(module.backbone.teacher, batch["image"]).mean(dim=1)
    torch.testing.assert_close(out["embedding"], expected, **TOL)
    torch.testing.assert_close(module.backbone.teacher(batch["image"]), expected, **TOL)


def test_masks_are_drawn_on_the_device_when_the_batch_has_none() -> None:
    module = _build("smooth_l1")
    images = Images().images[:BATCH]
    torch.manual_seed(3)
    out = module.forward({"image": images}, "fit")
    torch.manual_seed(3)
    masks = module.mask_generator.generate(BATCH)
    with torch.no_grad():
        expected = ijepa_loss(
            module.backbone.student, module.backbone.teacher, module.predictor,
            {"image": images, **masks},
        )  # fmt: skip
    torch.testing.assert_close(out["loss"].detach(), expected, **TOL)


def test_validation_without_masks_returns_the_embedding_only() -> None:
    module = _build("smooth_l1")
    module.mask_generator = None
    out = module.forward({"image": Images().images[:BATCH]}, "validate")
    assert "loss" not in out
    assert out["embedding"].shape == (BATCH, DIM)
    with pytest.raises(ValueError, match="no 'context_idx' / 'target_idx'"):
        module.forward({"image": Images().images[:BATCH]}, "fit")
