"""IJEPALoss against the I-JEPA objective written with loops over blocks, tokens, features."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from spt_losses import IJEPALoss

F64 = torch.float64


def layer_norm(token: Tensor, eps: float = 1e-5) -> list[float]:
    """(x - mean) / sqrt(biased variance + eps) of one (D,) token, as Python floats."""
    values = token.tolist()
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return [(v - mean) / math.sqrt(var + eps) for v in values]


def smooth_l1(diff: Tensor, beta: float) -> Tensor:
    return 0.5 * diff**2 / beta if abs(float(diff.detach())) < beta else abs(diff) - 0.5 * beta


def reference_ijepa(
    predictions: list[Tensor], targets: list[Tensor], distance: str, beta: float = 1.0
) -> Tensor:
    """(1/M) sum_blocks of the block's mean over samples and tokens (and, for smooth-L1,
    features) of the distance to the layer-normalised target."""
    total = torch.zeros((), dtype=predictions[0].dtype)
    for pred, target in zip(predictions, targets, strict=True):
        batch, tokens, dim = pred.shape
        block = torch.zeros((), dtype=pred.dtype)
        for b in range(batch):
            for j in range(tokens):
                normed = layer_norm(target[b, j])
                diffs = [pred[b, j, d] - normed[d] for d in range(dim)]
                if distance == "smooth_l1":
                    block = block + sum(smooth_l1(x, beta) for x in diffs) / dim
                else:
                    block = block + sum(x**2 for x in diffs)
        total = total + block / (batch * tokens)
    return total / len(predictions)


def _blocks(
    sizes: list[int], batch: int = 2, dim: int = 5, seed: int = 0
) -> tuple[list[Tensor], list[Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    preds = [torch.randn(batch, k, dim, generator=gen, dtype=F64).requires_grad_() for k in sizes]
    targets = [3 * torch.randn(batch, k, dim, generator=gen, dtype=F64) + 1 for k in sizes]
    return preds, targets


@pytest.mark.parametrize("distance", ["smooth_l1", "l2"])
@pytest.mark.parametrize("sizes", [[4], [3, 3, 3, 3], [2, 5, 1]])
def test_matches_reference_values_and_gradients(distance: str, sizes: list[int]) -> None:
    """Blocks of equal and of different sizes; errors on both sides of smooth-L1's beta."""
    preds, targets = _blocks(sizes, seed=len(sizes))
    ref_preds = [p.detach().clone().requires_grad_() for p in preds]
    beta = 0.7
    loss = IJEPALoss(distance, beta=beta)(preds, targets)  # type: ignore[arg-type]
    expected = reference_ijepa(ref_preds, targets, distance, beta)
    loss.backward()
    expected.backward()
    assert loss.dtype == F64
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    for p, r in zip(preds, ref_preds, strict=True):
        torch.testing.assert_close(p.grad, r.grad, rtol=1e-10, atol=1e-10)


def test_equal_blocks_give_the_authors_mean_over_every_element() -> None:
    preds, targets = _blocks([3, 3, 3], seed=5)
    stacked = torch.cat([p.detach() for p in preds])
    normed = nn.functional.layer_norm(torch.cat(targets), (5,))
    expected = nn.functional.smooth_l1_loss(stacked, normed)
    torch.testing.assert_close(IJEPALoss()(preds, targets), expected, rtol=1e-12, atol=1e-12)


def test_the_three_layouts_give_the_same_loss() -> None:
    preds, targets = _blocks([3, 3], seed=6)
    as_list = IJEPALoss()(preds, targets)
    as_tensor = IJEPALoss()(torch.stack(preds), torch.stack(targets))
    torch.testing.assert_close(as_list, as_tensor, rtol=0, atol=0)
    one_block = IJEPALoss()(preds[0], targets[0])
    torch.testing.assert_close(one_block, IJEPALoss()(preds[:1], targets[:1]), rtol=0, atol=0)


def test_targets_are_detached_and_normalisation_can_be_turned_off() -> None:
    preds, targets = _blocks([4], seed=7)
    target = targets[0].clone().requires_grad_()
    IJEPALoss()(preds, [target]).backward()
    assert target.grad is None
    raw = IJEPALoss("l2", normalize_targets=False)(preds, targets)
    expected = (preds[0].detach() - targets[0]).square().sum(-1).mean()
    torch.testing.assert_close(raw, expected, rtol=1e-12, atol=1e-12)


def test_targets_are_normalised_per_token_without_affine() -> None:
    preds, targets = _blocks([4], seed=8)
    loss = IJEPALoss()(preds, targets)
    shifted = [targets[0] - 2.0 * torch.rand(2, 4, 1, dtype=F64)]  # per-token shifts
    torch.testing.assert_close(IJEPALoss()(preds, shifted), loss, rtol=1e-9, atol=1e-9)
    scaled = [3.0 * targets[0]]  # a scale changes only the eps of the variance
    torch.testing.assert_close(IJEPALoss()(preds, scaled), loss, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("distance", ["smooth_l1", "l2"])
def test_low_precision_inputs_are_reduced_in_float32(dtype: torch.dtype, distance: str) -> None:
    torch.manual_seed(9)
    x = (50 * torch.randn(2, 4, 6, 16)).requires_grad_()
    layer = nn.Linear(16, 16)
    with torch.autocast("cpu", dtype=dtype):
        z = layer(x)
        assert z.dtype == dtype
        loss = IJEPALoss(distance)(z[0], z[1].detach())  # type: ignore[arg-type]
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss)
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


def test_bad_inputs_name_the_argument_and_the_shapes() -> None:
    loss_fn = IJEPALoss()
    with pytest.raises(ValueError, match="distance must be one of"):
        IJEPALoss("l1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beta must be > 0"):
        IJEPALoss(beta=0.0)
    with pytest.raises(ValueError, match="empty predictions"):
        loss_fn([], [])
    with pytest.raises(ValueError, match="2 prediction and 1 target blocks"):
        loss_fn([torch.randn(2, 3, 4)] * 2, [torch.randn(2, 3, 4)])
    with pytest.raises(
        ValueError, match=r"predictions\[0\] and targets\[0\].*\(2, 3, 4\).*\(2, 2, 4\)"
    ):
        loss_fn([torch.randn(2, 3, 4)], [torch.randn(2, 2, 4)])
    with pytest.raises(ValueError, match=r"tensor of shape \(2, 3\)"):
        loss_fn(torch.randn(2, 3), torch.randn(2, 3))
