"""The explicit-softmax attention of ``Attention(fused=False)`` computes what SDPA computes."""

from __future__ import annotations

import doctest
import math

import torch
from torch import Tensor, nn

from spt.backbone import IJEPAPredictor, VisionTransformer, _vit_blocks
from spt.backbone._vit_blocks import Attention, set_fused_attention


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
