"""MAELoss against an explicit loop over masked positions."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from spt_losses import MAELoss


def reference_mae(pred: Tensor, target: Tensor, mask: Tensor, norm_pix_loss: bool) -> Tensor:
    batch, n, d = pred.shape
    total = torch.zeros((), dtype=pred.dtype)
    count = 0
    for b in range(batch):
        for i in range(n):
            if not mask[b, i]:
                continue
            t = target[b, i]
            if norm_pix_loss:
                mean = sum(t[k] for k in range(d)) / d
                var = sum((t[k] - mean) ** 2 for k in range(d)) / (d - 1)
                t = (t - mean) / torch.sqrt(var + 1e-6)
            total = total + sum((pred[b, i, k] - t[k]) ** 2 for k in range(d)) / d
            count += 1
    return total / count


@pytest.mark.parametrize("norm_pix_loss", [False, True])
@pytest.mark.parametrize("layout", ["patches", "time_steps"])
def test_matches_reference_values_and_gradients(norm_pix_loss: bool, layout: str) -> None:
    gen = torch.Generator().manual_seed(4)
    shape = (3, 8, 12) if layout == "patches" else (2, 20, 3)  # (B, N, D) or (B, T, C)
    pred = torch.randn(*shape, generator=gen, requires_grad=True)
    target = 2 + 3 * torch.randn(*shape, generator=gen)
    mask = torch.rand(shape[:2], generator=gen) < 0.6
    pred_ref = pred.detach().double().requires_grad_()

    loss = MAELoss(norm_pix_loss=norm_pix_loss)(pred, target, mask)
    expected = reference_mae(pred_ref, target.double(), mask, norm_pix_loss)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss, expected.float(), rtol=1e-5, atol=1e-5)
    assert pred.grad is not None
    assert pred_ref.grad is not None
    torch.testing.assert_close(pred.grad, pred_ref.grad.float(), rtol=1e-5, atol=1e-5)


def test_float_mask_equals_bool_mask() -> None:
    pred, target = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    mask = torch.rand(2, 5) < 0.5
    mask[0, 0] = True
    loss_fn = MAELoss()
    torch.testing.assert_close(loss_fn(pred, target, mask), loss_fn(pred, target, mask.float()))


def test_unmasked_positions_do_not_count() -> None:
    pred, target = torch.zeros(1, 4, 2), torch.zeros(1, 4, 2)
    target[0, 1] = 100.0  # visible position: ignored
    target[0, 2] = 1.0
    mask = torch.tensor([[False, False, True, True]])
    torch.testing.assert_close(MAELoss()(pred, target, mask), torch.tensor(0.5))


def test_empty_mask_gives_zero_not_nan() -> None:
    loss = MAELoss()(torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.zeros(2, 3))
    assert loss.item() == 0.0


def test_mismatched_shapes_name_both() -> None:
    with pytest.raises(ValueError, match=r"\(2, 5, 4\) and \(2, 5, 3\)"):
        MAELoss()(torch.randn(2, 5, 4), torch.randn(2, 5, 3), torch.ones(2, 5))


def test_mask_of_wrong_shape_names_both() -> None:
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(2, 5, 4\).*\(2, 4\)"):
        MAELoss()(torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.ones(2, 4))


def test_wrong_rank_gives_the_shape() -> None:
    with pytest.raises(ValueError, match=r"pred must have shape \(B, N, D\).*\(2, 5\)"):
        MAELoss()(torch.randn(2, 5), torch.randn(2, 5), torch.ones(2, 5))
