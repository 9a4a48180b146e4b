"""Every loss stays finite under bf16 and fp16 autocast at temperature 0.05."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from spt_losses import (
    BarlowTwinsLoss,
    DINOLoss,
    MAELoss,
    NegativeCosineSimilarity,
    NTXEntLoss,
    VICRegLoss,
    _similarity,
)

DTYPES = [torch.bfloat16, torch.float16]


def _run(dtype: torch.dtype, fn: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """Loss and gradient of `fn` under CPU autocast; the input passes through a Linear so
    the embeddings are produced in `dtype`, as in a mixed-precision model."""
    x = x.clone().requires_grad_()
    layer = nn.Linear(x.shape[-1], x.shape[-1])
    nn.init.eye_(layer.weight)
    nn.init.zeros_(layer.bias)
    with torch.autocast("cpu", dtype=dtype):
        loss = fn(layer(x))
    loss.backward()
    assert x.grad is not None
    return loss.detach().float(), x.grad


def _assert_finite(loss: Tensor, grad: Tensor) -> None:
    assert torch.isfinite(loss).all(), loss
    assert torch.isfinite(grad).all()


def _ntxent_input() -> Tensor:
    # nearly identical views with large norms: positive logits of about 1 / 0.05 = 20
    torch.manual_seed(0)
    z = 30 * torch.randn(64, 32)
    return torch.cat([z, z + 0.01 * torch.randn_like(z)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_ntxent_finite_and_close_to_float32(dtype: torch.dtype) -> None:
    loss_fn = NTXEntLoss(temperature=0.05)
    x = _ntxent_input()

    def fn(z: Tensor) -> Tensor:
        return loss_fn(z[:64], z[64:], negatives=z[:16].detach())

    loss, grad = _run(dtype, fn, x)
    _assert_finite(loss, grad)
    expected = fn(x)
    torch.testing.assert_close(loss, expected, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ntxent_three_views_finite(dtype: torch.dtype) -> None:
    loss_fn = NTXEntLoss(temperature=0.05)
    torch.manual_seed(1)
    x = 10 * torch.randn(3 * 32, 16)
    _assert_finite(*_run(dtype, lambda z: loss_fn(z[:32], z[32:64], z[64:]), x))


@pytest.mark.parametrize("gram", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_ntxent_both_logit_paths_finite_and_close_to_float32(
    dtype: torch.dtype, gram: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_similarity, "prefers_gram", lambda rows, dim: gram)
    loss_fn = NTXEntLoss(temperature=0.05)
    torch.manual_seed(7)
    z = 30 * torch.randn(16, 64)
    x = torch.cat([z, z + 0.01 * torch.randn_like(z)])

    def fn(z: Tensor) -> Tensor:
        return loss_fn(z[:16], z[16:])

    loss, grad = _run(dtype, fn, x)
    _assert_finite(loss, grad)
    torch.testing.assert_close(loss, fn(x).detach(), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dino_finite_at_low_temperatures(dtype: torch.dtype) -> None:
    loss_fn = DINOLoss(64, student_temp=0.05, teacher_temp=0.04)
    torch.manual_seed(2)
    x = 50 * torch.randn(4 * 16, 64)
    teacher = [50 * torch.randn(16, 64) for _ in range(2)]
    fn = lambda z: loss_fn(list(z.split(16)), teacher)  # noqa: E731
    _assert_finite(*_run(dtype, fn, x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_cls", [VICRegLoss, BarlowTwinsLoss])
def test_statistics_losses_finite(dtype: torch.dtype, loss_cls: type[nn.Module]) -> None:
    loss_fn = loss_cls()
    torch.manual_seed(3)
    x = 100 * torch.randn(2 * 32, 48)
    loss, grad = _run(dtype, lambda z: loss_fn(z[:32], z[32:]), x)
    _assert_finite(loss, grad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_cosine_finite(dtype: torch.dtype) -> None:
    loss_fn = NegativeCosineSimilarity()
    torch.manual_seed(4)
    x = 300 * torch.randn(2 * 16, 32)
    _assert_finite(*_run(dtype, lambda z: loss_fn(z[:16], z[16:].detach()), x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mae_finite(dtype: torch.dtype) -> None:
    loss_fn = MAELoss(norm_pix_loss=True)
    torch.manual_seed(5)
    x = 100 * torch.randn(2 * 8, 24)
    target = 100 * torch.randn(2, 8, 24)
    mask = torch.rand(2, 8) < 0.75
    _assert_finite(*_run(dtype, lambda z: loss_fn(z.view(2, 8, 24), target, mask), x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_low_precision_inputs_without_autocast(dtype: torch.dtype) -> None:
    torch.manual_seed(6)
    z1 = (20 * torch.randn(32, 16)).to(dtype).requires_grad_()
    z2 = (z1.detach() + 0.1).requires_grad_()
    loss = NTXEntLoss(temperature=0.05)(z1, z2)
    loss.backward()
    assert torch.isfinite(loss)
    assert z1.grad is not None
    assert torch.isfinite(z1.grad).all()


LOW_TEMPERATURE_LOSSES: dict[str, Callable[[Tensor], Tensor]] = {
    "ntxent": lambda z: NTXEntLoss(temperature=0.05)(z[:8], z[8:]),
    "negative_cosine": lambda z: NegativeCosineSimilarity()(z[:8], z[8:].detach()),
    "vicreg": lambda z: VICRegLoss()(z[:8], z[8:]),
    "barlow_twins": lambda z: BarlowTwinsLoss()(z[:8], z[8:]),
    "dino": lambda z: DINOLoss(16, student_temp=0.05, teacher_temp=0.04)(
        [z[:8], z[8:]], [z[:8].detach()]
    ),
    "mae": lambda z: MAELoss(norm_pix_loss=True)(
        z[:8].view(2, 4, 16), z[8:].detach().view(2, 4, 16), torch.ones(2, 4)
    ),
}


@pytest.mark.parametrize("name", sorted(LOW_TEMPERATURE_LOSSES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_loss_computes_in_float32_under_autocast(dtype: torch.dtype, name: str) -> None:
    """Embeddings produced in bf16/fp16 are reduced in float32 (the promotion of their
    dtype and float32), and the loss and its gradient are finite."""
    torch.manual_seed(8)
    x = (30 * torch.randn(16, 16)).requires_grad_()
    layer = nn.Linear(16, 16)
    with torch.autocast("cpu", dtype=dtype):
        z = layer(x)
        assert z.dtype == dtype
        loss = LOW_TEMPERATURE_LOSSES[name](z)
    assert loss.dtype == torch.float32
    loss.backward()
    assert x.grad is not None
    _assert_finite(loss.detach(), x.grad)
