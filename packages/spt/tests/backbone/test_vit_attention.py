"""ViT blocks: attention against a per-head loop, SDPA against the explicit softmax, drop path."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from torch import Tensor, nn

from spt.backbone import IJEPAPredictor, VisionTransformer, _vit_blocks
from spt.backbone._vit_blocks import Attention, Block, DropPath, set_fused_attention


def _loop_attention(layer: Attention, x: Tensor) -> Tensor:
    """Self-attention per sample and head, the softmax written out."""
    B, _, D = x.shape
    hd = layer.head_dim
    qkv = x @ layer.qkv.weight.T + layer.qkv.bias
    q, k, v = qkv[..., :D], qkv[..., D : 2 * D], qkv[..., 2 * D :]
    out = torch.zeros_like(x)
    for b in range(B):
        for h in range(layer.num_heads):
            cols = slice(h * hd, (h + 1) * hd)
            scores = q[b, :, cols] @ k[b, :, cols].T / math.sqrt(hd)
            weights = torch.exp(scores - scores.max(-1, keepdim=True).values)
            out[b, :, cols] = weights / weights.sum(-1, keepdim=True) @ v[b, :, cols]
    return out @ layer.proj.weight.T + layer.proj.bias


def test_unfused_attention_equals_the_per_head_formula_in_float64() -> None:
    torch.manual_seed(0)
    layer = Attention(12, 3, fused=False).double()
    for parameter in layer.parameters():
        nn.init.normal_(parameter, std=0.3)
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    assert layer.fused is False
    torch.testing.assert_close(layer(x), _loop_attention(layer, x), rtol=0, atol=1e-12)


def test_a_vit_gives_the_same_tokens_and_gradients_fused_or_not() -> None:
    torch.manual_seed(0)
    vit = VisionTransformer(16, 4, dim=16, depth=2, heads=2, num_registers=1).double()
    images = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    results = []
    for fused in (True, False):
        assert set_fused_attention(vit, fused) == 2
        vit.zero_grad()
        tokens = vit.forward_tokens(images, torch.tensor([[0, 3, 5]] * 2))
        tokens.patch_tokens.square().sum().backward()
        results.append((tokens.patch_tokens, [p.grad.clone() for p in vit.parameters()]))
    (fused_out, fused_grads), (plain_out, plain_grads) = results
    torch.testing.assert_close(plain_out, fused_out, rtol=0, atol=1e-12)
    for plain, fused in zip(plain_grads, fused_grads, strict=True):
        torch.testing.assert_close(plain, fused, rtol=0, atol=1e-12)


def test_set_fused_attention_reaches_every_attention_of_a_model() -> None:
    model = nn.ModuleDict(
        {
            "encoder": VisionTransformer(16, 4, dim=16, depth=3, heads=2),
            "predictor": IJEPAPredictor((4, 4), 16, dim=8, depth=2, heads=2),
        }
    )
    assert set_fused_attention(model, False) == 5
    layers = [m for m in model.modules() if isinstance(m, Attention)]
    assert [layer.fused for layer in layers] == [False] * 5
    assert set_fused_attention(model, True) == 5
    assert all(layer.fused for layer in layers)


def test_the_block_module_examples_run() -> None:
    result = doctest.testmod(_vit_blocks, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def _layer_norm(t: Tensor, norm: nn.LayerNorm) -> Tensor:
    mean = t.mean(-1, keepdim=True)
    var = ((t - mean) ** 2).mean(-1, keepdim=True)
    return (t - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def _slow_block(block: Block, x: Tensor) -> Tensor:
    """One pre-norm block: layer norms by hand, the per-head attention loop, exact GELU."""
    x = x + _loop_attention(block.attn, _layer_norm(x, block.norm1))
    first, last = block.mlp[0], block.mlp[3]
    hidden = _layer_norm(x, block.norm2) @ first.weight.T + first.bias
    hidden = 0.5 * hidden * (1 + torch.erf(hidden / math.sqrt(2)))
    return x + hidden @ last.weight.T + last.bias


def test_sdpa_block_equals_slow_attention_in_float64() -> None:
    torch.manual_seed(0)
    block = Block(12, 3, mlp_ratio=2.0).double().eval()
    for parameter in block.parameters():  # non-trivial norms and biases
        nn.init.normal_(parameter, std=0.3)
    x = torch.randn(2, 7, 12, dtype=torch.float64)
    expected = _slow_block(block, x)
    torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-12)
    out, attention = block(x, return_attention=True)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    assert attention.shape == (2, 3, 7, 7)


def test_last_selfattention_shape_and_rows_sum_to_one() -> None:
    torch.manual_seed(0)
    vit = VisionTransformer(16, 4, in_channels=1, dim=16, depth=2, heads=2, num_registers=2).eval()
    images = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        attention = vit.get_last_selfattention(images)
        dropped = vit.get_last_selfattention(images, torch.tensor([[1, 2, 3]] * 3))
    assert attention.shape == (3, 2, 1 + 2 + 16, 1 + 2 + 16)
    assert dropped.shape == (3, 2, 1 + 2 + 3, 1 + 2 + 3)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 2, 19))
    assert attention.min() >= 0


def test_blocks_are_a_module_list_with_rising_drop_path_and_layer_scale() -> None:
    vit = VisionTransformer(8, 4, dim=8, depth=3, heads=2, drop_path_rate=0.2, layer_scale=1e-5)
    assert isinstance(vit.blocks, nn.ModuleList)
    assert all(isinstance(b, Block) for b in vit.blocks)
    rates = [b.drop_path.p for b in vit.blocks]  # type: ignore[union-attr]
    assert rates == pytest.approx([0.0, 0.1, 0.2])
    gamma = vit.blocks[0].ls1.gamma  # type: ignore[union-attr]
    assert torch.equal(gamma, torch.full((8,), 1e-5))


def test_drop_path_drops_whole_samples_in_training_only() -> None:
    torch.manual_seed(0)
    drop = DropPath(0.5)
    x = torch.ones(64, 3, 4)
    out = drop(x)
    per_sample = out.flatten(1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(per_sample.min(1).values, per_sample.max(1).values)
    assert 0 < int((per_sample[:, 0] == 0).sum()) < 64
    assert torch.equal(drop.eval()(x), x)
