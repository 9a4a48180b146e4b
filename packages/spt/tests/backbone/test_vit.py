"""VisionTransformer: the token API, masks, registers, position embeddings, patchify."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from spt.backbone import (
    MAEDecoder,
    VisionTransformer,
    ViTOutput,
    interpolate_pos_embed,
    patchify,
    sincos_pos_embed_2d,
    unpatchify,
    vit_small,
    vit_tiny,
)

DIM, HEADS = 16, 2


def _vit(**kwargs: object) -> VisionTransformer:
    torch.manual_seed(0)
    options: dict[str, object] = {"in_channels": 1, "dim": DIM, "depth": 2, "heads": HEADS}
    options.update(kwargs)
    return VisionTransformer(16, 4, **options).eval()  # type: ignore[arg-type]


def _images(batch: int = 3, size: int = 16, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.randn(batch, 1, size, size, generator=torch.Generator().manual_seed(1)).to(dtype)


def _manual_forward(vit: VisionTransformer, images: Tensor, patch_pos: Tensor) -> Tensor:
    """The class token of a plain ViT computed by hand with the given patch positions."""
    x = vit.patch_embed(images).flatten(2).transpose(1, 2) + patch_pos
    cls = vit.cls_token + vit.pos_embed[:, :1]  # type: ignore[operator]
    x = torch.cat([cls.expand(len(x), -1, -1), x], dim=1)
    for block in vit.blocks:
        x = block(x)
    return vit.norm(x)[:, 0]


def test_forward_is_the_normalised_class_token() -> None:
    vit = _vit()
    with torch.no_grad():
        features, tokens = vit(_images()), vit.forward_tokens(_images())
    assert features.shape == (3, DIM)
    torch.testing.assert_close(features, tokens.cls_token)
    # after the final LayerNorm (weight 1, bias 0 at init): mean 0, variance 1 per token
    torch.testing.assert_close(features.mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(features.var(1, unbiased=False), torch.ones(3), atol=1e-2, rtol=0)


def test_tokens_without_mask_have_every_patch_and_the_registers() -> None:
    vit = _vit(num_registers=3)
    with torch.no_grad():
        out = vit.forward_tokens(_images())
    assert isinstance(out, ViTOutput)
    assert out.cls_token.shape == (3, DIM)
    assert out.patch_tokens.shape == (3, 16, DIM)
    assert out.register_tokens.shape == (3, 3, DIM)
    assert out.kept_idx is None
    assert out.grid_size == (4, 4)
    assert _vit().forward_tokens(_images()).register_tokens.shape == (3, 0, DIM)


def test_attributes_of_a_non_square_vit() -> None:
    vit = VisionTransformer((16, 8), 4, in_channels=1, dim=DIM, depth=1, heads=HEADS)
    assert (vit.patch_size, vit.grid_size, vit.num_patches) == (4, (4, 2), 8)
    assert (vit.embed_dim, vit.num_registers) == (DIM, 0)
    assert vit(torch.randn(2, 1, 16, 8)).shape == (2, DIM)
    assert vit.forward_tokens(torch.randn(2, 1, 16, 8)).grid_size == (4, 2)


def test_registers_take_part_in_attention() -> None:
    vit = _vit(num_registers=2)
    images = _images()
    with torch.no_grad():
        before = vit(images)
        assert vit.register_tokens is not None
        vit.register_tokens.add_(torch.randn_like(vit.register_tokens))
        after = vit(images)
    assert not torch.allclose(before, after)


def test_drop_mask_removes_the_masked_patches() -> None:
    vit = _vit()
    mask = torch.zeros(3, 16, dtype=torch.bool)
    mask[0, :12] = True
    mask[1, 4:] = True
    mask[2, torch.tensor([0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 13, 14])] = True
    with torch.no_grad():
        out = vit.forward_tokens(_images(), mask)
    assert out.patch_tokens.shape == (3, 4, DIM)
    assert out.kept_idx is not None
    expected = torch.stack([torch.nonzero(~row).flatten() for row in mask])
    assert torch.equal(out.kept_idx, expected)  # increasing order
    # the same patches given as indices in another order: the same tokens, permuted
    order = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        by_index = vit.forward_tokens(_images(), expected[:, order])
    assert by_index.kept_idx is not None
    assert torch.equal(by_index.kept_idx, expected[:, order])
    torch.testing.assert_close(by_index.patch_tokens, out.patch_tokens[:, order])
    torch.testing.assert_close(by_index.cls_token, out.cls_token)


def test_dropped_patches_do_not_reach_the_tokens() -> None:
    vit = _vit()
    images = _images()
    kept = torch.tensor([[0, 5, 10, 15]]).expand(3, -1)
    changed = images.clone()
    changed[:, :, 0:4, 4:8] = 100.0  # patch 1, dropped everywhere
    with torch.no_grad():
        a, b = vit.forward_tokens(images, kept), vit.forward_tokens(changed, kept)
    torch.testing.assert_close(a.cls_token, b.cls_token)
    torch.testing.assert_close(a.patch_tokens, b.patch_tokens)


def test_drop_mask_with_unequal_counts_names_them() -> None:
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, :4] = True
    with pytest.raises(ValueError, match="between 12 and 16 of 16"):
        _vit().forward_tokens(_images(2), mask)


def test_bad_masks_are_named() -> None:
    vit = _vit(mask_token=True)
    with pytest.raises(ValueError, match=r"\(B, N\) = \(3, 16\)"):
        vit.forward_tokens(_images(), torch.zeros(3, 9, dtype=torch.bool))
    with pytest.raises(TypeError, match="float32"):
        vit.forward_tokens(_images(), torch.zeros(3, 16))
    with pytest.raises(ValueError, match="mask_mode='token' needs a boolean mask"):
        vit.forward_tokens(_images(), torch.zeros(3, 4, dtype=torch.long), mask_mode="token")
    with pytest.raises(ValueError, match="mask_mode='hide'"):
        vit.forward_tokens(_images(), mask_mode="hide")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="build the ViT with mask_token=True"):
        _vit().forward_tokens(_images(), torch.zeros(3, 16, dtype=torch.bool), mask_mode="token")
    with pytest.raises(ValueError, match="10x10 is not divisible by patch_size=4"):
        vit(torch.randn(1, 1, 10, 10))


def test_token_mode_replaces_masked_patches_by_the_mask_token() -> None:
    vit = _vit(mask_token=True)
    assert vit.mask_token is not None
    with torch.no_grad():
        vit.mask_token.normal_()
    images = _images()
    mask = torch.rand(3, 16, generator=torch.Generator().manual_seed(2)) < 0.5
    changed = images.clone()
    pixel_mask = mask.reshape(3, 1, 4, 4).repeat_interleave(4, 2).repeat_interleave(4, 3)
    changed[pixel_mask] = 100.0  # the content of masked patches must not matter
    with torch.no_grad():
        out = vit.forward_tokens(images, mask, mask_mode="token")
        other = vit.forward_tokens(changed, mask, mask_mode="token")
        plain = vit.forward_tokens(images)
        unmasked = vit.forward_tokens(images, torch.zeros_like(mask), mask_mode="token")
    assert out.patch_tokens.shape == (3, 16, DIM)
    assert out.kept_idx is None
    torch.testing.assert_close(out.patch_tokens, other.patch_tokens)
    assert not torch.allclose(out.cls_token, plain.cls_token)
    torch.testing.assert_close(unmasked.patch_tokens, plain.patch_tokens)
    # by hand: the mask token replaces the patch embedding, then the position embedding
    x = vit.patch_embed(images).flatten(2).transpose(1, 2)
    x = torch.where(mask.unsqueeze(-1), vit.mask_token, x) + vit.pos_embed[:, 1:]
    cls = vit.cls_token + vit.pos_embed[:, :1]  # type: ignore[operator]
    x = torch.cat([cls.expand(3, -1, -1), x], dim=1)
    for block in vit.blocks:
        x = block(x)
    torch.testing.assert_close(out.patch_tokens, vit.norm(x)[:, 1:].detach())


def test_sincos_matches_the_formula() -> None:
    dim, (h, w) = 16, (3, 5)
    table = sincos_pos_embed_2d(dim, (h, w), dtype=torch.float64)
    q = dim // 4
    for r in range(h):
        for c in range(w):
            row = table[r * w + c]
            for i in range(q):
                omega = 1.0 / 10000 ** (i / q)
                assert row[i].item() == pytest.approx(math.sin(c * omega), abs=1e-12)
                assert row[q + i].item() == pytest.approx(math.cos(c * omega), abs=1e-12)
                assert row[2 * q + i].item() == pytest.approx(math.sin(r * omega), abs=1e-12)
                assert row[3 * q + i].item() == pytest.approx(math.cos(r * omega), abs=1e-12)


def test_sincos_vit_has_a_fixed_table_and_a_zero_class_position() -> None:
    vit = _vit(pos_embed="sincos")
    assert "pos_embed" not in dict(vit.named_parameters())
    assert "pos_embed" in vit.state_dict()
    assert torch.equal(vit.pos_embed[0, 0], torch.zeros(DIM))
    torch.testing.assert_close(vit.pos_embed[0, 1:], sincos_pos_embed_2d(DIM, (4, 4)))
    with pytest.raises(ValueError, match="dim=6 is not a multiple of 4"):
        VisionTransformer(8, 4, dim=6, depth=1, heads=2, pos_embed="sincos")


def test_position_interpolation_at_the_built_size_changes_nothing() -> None:
    vit = _vit()
    pos = vit.pos_embed[:, 1:]
    assert interpolate_pos_embed(pos, (4, 4), (4, 4)) is pos
    with torch.no_grad():
        torch.testing.assert_close(vit(_images()), _manual_forward(vit, _images(), pos))


@pytest.mark.parametrize("size", [8, 24])
def test_other_image_sizes_interpolate_positions_bicubically(size: int) -> None:
    vit = _vit()
    images = _images(size=size)
    side = size // 4
    grid = vit.pos_embed[:, 1:].reshape(1, 4, 4, DIM).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(side, side), mode="bicubic", align_corners=False)
    patch_pos = resized.permute(0, 2, 3, 1).reshape(1, side * side, DIM)
    with torch.no_grad():
        out = vit.forward_tokens(images)
        expected = _manual_forward(vit, images, patch_pos)
    assert out.patch_tokens.shape == (3, side * side, DIM)
    assert out.grid_size == (side, side)
    torch.testing.assert_close(out.cls_token, expected)


def test_without_class_token_forward_is_the_mean_patch_token() -> None:
    vit = _vit(class_token=False, pos_embed="sincos")
    assert vit.cls_token is None
    assert vit.pos_embed.shape == (1, 16, DIM)
    with torch.no_grad():
        out = vit.forward_tokens(_images())
    torch.testing.assert_close(vit(_images()).detach(), out.patch_tokens.mean(1))
    assert out.patch_tokens.shape == (3, 16, DIM)


def test_patchify_matches_loop_reference() -> None:
    images = torch.randn(2, 3, 8, 8)
    p = 4
    reference = torch.stack(
        [
            torch.stack(
                [
                    images[b, :, i * p : (i + 1) * p, j * p : (j + 1) * p]
                    .permute(1, 2, 0)
                    .flatten()
                    for i in range(2)
                    for j in range(2)
                ]
            )
            for b in range(2)
        ]
    )
    assert torch.equal(patchify(images, p), reference)


def test_unpatchify_inverts_patchify() -> None:
    images = torch.randn(2, 3, 12, 8)
    assert torch.equal(unpatchify(patchify(images, 4), 4, (3, 2)), images)
    square = torch.randn(2, 1, 8, 8)
    assert torch.equal(unpatchify(patchify(square, 2), 2), square)
    with pytest.raises(ValueError, match="do not fill grid_size"):
        unpatchify(torch.zeros(1, 5, 16), 4, (2, 2))


@pytest.mark.parametrize(("factory", "dim"), [(vit_tiny, 192), (vit_small, 384)])
def test_small_vits_embed_with_a_patch_size_argument(factory: object, dim: int) -> None:
    vit = factory(patch_size=8, img_size=32)  # type: ignore[operator]
    assert vit.patch_embed.kernel_size == (8, 8)
    assert vit.num_patches == 16
    assert len(vit.blocks) == 12
    with torch.no_grad():
        assert vit(torch.randn(2, 3, 32, 32)).shape == (2, dim)


def test_vit_rejects_indivisible_image_size() -> None:
    with pytest.raises(ValueError, match="patch_size=5"):
        VisionTransformer(img_size=32, patch_size=5)


def test_mae_decoder_puts_visible_tokens_at_their_patches() -> None:
    torch.manual_seed(0)
    decoder = MAEDecoder(16, encoder_dim=DIM, patch_dim=16, dim=8, depth=1, heads=2).eval()
    cls, visible = torch.randn(2, DIM), torch.randn(2, 4, DIM)
    kept = torch.tensor([[0, 3, 7, 12], [15, 1, 2, 8]])
    order = torch.tensor([3, 1, 0, 2])
    with torch.no_grad():
        pred = decoder(cls, visible, kept)
        permuted = decoder(cls, visible[:, order], kept[:, order])  # the same pairs
    assert pred.shape == (2, 16, 16)
    torch.testing.assert_close(pred, permuted)
    assert "pos_embed" not in dict(decoder.named_parameters())  # fixed sin-cos by default
    with pytest.raises(ValueError, match="grid_size"):
        MAEDecoder(12, encoder_dim=DIM, patch_dim=16, grid_size=(4, 4))


@pytest.mark.parametrize(
    "name",
    [
        "spt.backbone.vit",
        "spt.backbone.pos_embed",
        "spt.backbone.mae_decoder",
        "spt.plots._attention",
    ],
)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_entry_point_goes_through_module_call() -> None:
    # FSDP2 unshards the root's parameters in a forward pre-hook: the token API must fire it
    vit = _vit()
    calls: list[str] = []
    vit.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(kwargs["output"]), with_kwargs=True
    )
    vit.forward_tokens(_images())
    vit.get_last_selfattention(_images())
    assert calls == ["tokens", "attention"]
    with pytest.raises(ValueError, match="output='all'"):
        vit(_images(), output="all")


def test_weight_init_is_truncated_normal_or_xavier() -> None:
    torch.manual_seed(0)
    small = VisionTransformer(8, 4, dim=64, depth=1, heads=2)
    xavier = VisionTransformer(8, 4, dim=64, depth=1, heads=2, weight_init="xavier")
    fc1_small, fc1_xavier = small.blocks[0].mlp[0].weight, xavier.blocks[0].mlp[0].weight  # type: ignore[index]
    assert fc1_small.std().item() == pytest.approx(0.02, rel=0.05)
    bound = math.sqrt(6 / (64 + 256))  # xavier uniform of a 64 -> 256 layer
    assert fc1_xavier.abs().max() <= bound
    assert fc1_xavier.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert torch.equal(xavier.blocks[0].mlp[0].bias, torch.zeros(256))  # type: ignore[index]
    with pytest.raises(ValueError, match="weight_init='kaiming'"):
        VisionTransformer(8, 4, dim=8, depth=1, heads=2, weight_init="kaiming")  # type: ignore[arg-type]
