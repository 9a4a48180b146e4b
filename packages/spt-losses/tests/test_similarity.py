"""The masked-logit autograd functions against autograd through a plain masked matmul."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from spt_losses._similarity import masked_gram, masked_logits


def _plain(q: Tensor, k: Tensor, offset: int) -> Tensor:
    mask = torch.zeros(q.shape[0], k.shape[0], dtype=torch.bool)
    for i in range(q.shape[0]):
        mask[i, offset + i] = True
    return (q @ k.T).masked_fill(mask, float("-inf"))


def _weighted_sum(logits: Tensor, weights: Tensor) -> Tensor:
    """A loss whose gradient reaches the masked entries too (weights there are nonzero)."""
    return torch.where(torch.isinf(logits), torch.zeros_like(logits), logits * weights).sum()


@pytest.mark.parametrize("offset", [0, 3])
def test_masked_logits_match_plain_matmul(offset: int) -> None:
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(9, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(4, 9, generator=gen, dtype=torch.float64)
    q_ref = q.detach().clone().requires_grad_()
    k_ref = k.detach().clone().requires_grad_()

    out, ref = masked_logits(q, k, offset), _plain(q_ref, k_ref, offset)
    torch.testing.assert_close(out, ref)
    _weighted_sum(out, weights).backward()
    _weighted_sum(ref, weights).backward()
    assert q.grad is not None
    assert k.grad is not None
    torch.testing.assert_close(q.grad, q_ref.grad)
    torch.testing.assert_close(k.grad, k_ref.grad)


def test_masked_logits_ignore_gradient_on_masked_entries() -> None:
    q = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    masked_logits(q, k, 2).backward(torch.ones(3, 5, dtype=torch.float64))
    q_ref = q.detach().clone().requires_grad_()
    k_ref = k.detach().clone().requires_grad_()
    ones_off_mask = torch.isfinite(_plain(q_ref.detach(), k_ref.detach(), 2)).double()
    (q_ref @ k_ref.T).backward(ones_off_mask)
    assert q.grad is not None
    assert k.grad is not None
    torch.testing.assert_close(q.grad, q_ref.grad)
    torch.testing.assert_close(k.grad, k_ref.grad)


def test_masked_gram_matches_plain_matmul() -> None:
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(6, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    z_ref = z.detach().clone().requires_grad_()

    out, ref = masked_gram(z), _plain(z_ref, z_ref, 0)
    torch.testing.assert_close(out, ref)
    _weighted_sum(out, weights).backward()
    _weighted_sum(ref, weights).backward()
    assert z.grad is not None
    torch.testing.assert_close(z.grad, z_ref.grad)


def test_masked_gram_ignores_gradient_on_the_diagonal() -> None:
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    masked_gram(z).backward(torch.ones(4, 4, dtype=torch.float64))
    z_ref = z.detach().clone().requires_grad_()
    (z_ref @ z_ref.T).backward(1 - torch.eye(4, dtype=torch.float64))
    assert z.grad is not None
    torch.testing.assert_close(z.grad, z_ref.grad)
