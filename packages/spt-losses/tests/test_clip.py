"""CLIPLoss against the paper's symmetric cross-entropy written out with loops."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from spt_losses import CLIPLoss

F64 = torch.float64
TOL = {"rtol": 0.0, "atol": 1e-10}


def reference_clip(images: Tensor, texts: Tensor, log_scale: Tensor, max_scale: float) -> Tensor:
    """Figure 3 of Radford et al. (2021), one scalar at a time."""
    batch, dim = images.shape

    def unit(rows: Tensor, i: int) -> list[Tensor]:
        norm = torch.sqrt(sum(rows[i, d] ** 2 for d in range(dim)))
        return [rows[i, d] / norm for d in range(dim)]

    scale = torch.clamp(torch.exp(log_scale), max=max_scale)
    img = [unit(images, i) for i in range(batch)]
    txt = [unit(texts, j) for j in range(batch)]
    logits = [
        [scale * sum(img[i][d] * txt[j][d] for d in range(dim)) for j in range(batch)]
        for i in range(batch)
    ]
    # cross-entropy of each image over the texts (rows), of each text over the images (columns)
    loss_images = sum(
        -(logits[i][i] - torch.log(sum(torch.exp(logits[i][j]) for j in range(batch))))
        for i in range(batch)
    )
    loss_texts = sum(
        -(logits[j][j] - torch.log(sum(torch.exp(logits[i][j]) for i in range(batch))))
        for j in range(batch)
    )
    return (loss_images / batch + loss_texts / batch) / 2


def _inputs(batch: int, dim: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, dim, generator=gen, dtype=F64, requires_grad=True)
    texts = torch.randn(batch, dim, generator=gen, dtype=F64, requires_grad=True)
    return images, texts


@pytest.mark.parametrize(
    ("batch", "dim", "temperature"), [(4, 5, 0.07), (6, 3, 0.5), (1, 4, 0.07), (5, 8, 0.02)]
)
def test_matches_reference_values_and_gradients(batch: int, dim: int, temperature: float) -> None:
    loss_fn = CLIPLoss(temperature=temperature).double()
    images, texts = _inputs(batch, dim)
    ref_images = images.detach().clone().requires_grad_()
    ref_texts = texts.detach().clone().requires_grad_()
    ref_scale = loss_fn.log_scale.detach().clone().requires_grad_()

    loss = loss_fn(images, texts)
    expected = reference_clip(ref_images, ref_texts, ref_scale, 100.0)
    loss.backward()
    expected.backward()

    assert loss.dtype == F64
    torch.testing.assert_close(loss, expected, **TOL)
    for ours, theirs in [
        (images.grad, ref_images.grad),
        (texts.grad, ref_texts.grad),
        (loss_fn.log_scale.grad, ref_scale.grad),
    ]:
        assert ours is not None
        assert theirs is not None
        torch.testing.assert_close(ours, theirs, **TOL)


def test_temperature_starts_at_0_07_in_log_space() -> None:
    loss_fn = CLIPLoss()
    assert isinstance(loss_fn.log_scale, torch.nn.Parameter)
    assert loss_fn.log_scale.shape == ()
    assert float(loss_fn.log_scale.detach()) == pytest.approx(math.log(1 / 0.07))
    assert float(loss_fn.logit_scale().detach()) == pytest.approx(1 / 0.07, rel=1e-6)
    assert loss_fn.temperature() == pytest.approx(0.07, rel=1e-6)
    assert loss_fn.max_scale == 100.0


def test_scale_is_clamped_at_max_scale_where_the_temperature_gets_no_gradient() -> None:
    loss_fn = CLIPLoss().double()
    with torch.no_grad():
        loss_fn.log_scale.fill_(math.log(250.0))
    images, texts = _inputs(4, 5, seed=1)
    loss = loss_fn(images, texts)
    loss.backward()
    log_100 = torch.tensor(math.log(100.0), dtype=F64)
    at_max = reference_clip(images.detach(), texts.detach(), log_100, max_scale=1e9)
    torch.testing.assert_close(loss, at_max, **TOL)
    assert float(loss_fn.logit_scale().detach()) == 100.0
    assert loss_fn.log_scale.grad is not None
    assert float(loss_fn.log_scale.grad) == 0.0


def test_loss_is_symmetric_in_images_and_texts() -> None:
    loss_fn = CLIPLoss(temperature=0.1).double()
    images, texts = _inputs(6, 4, seed=2)
    torch.testing.assert_close(loss_fn(images, texts), loss_fn(texts, images), **TOL)


def test_matched_pairs_score_below_mismatched_ones() -> None:
    loss_fn = CLIPLoss(temperature=0.1).double()
    images = _inputs(6, 4, seed=3)[0].detach()
    aligned = loss_fn(images, images)
    shuffled = loss_fn(images, images.roll(1, dims=0))
    assert float(aligned) < math.log(6) < float(shuffled)


def test_identical_embeddings_give_log_batch() -> None:
    loss = CLIPLoss()(torch.ones(5, 3), torch.ones(5, 3))
    assert float(loss) == pytest.approx(math.log(5), rel=1e-6)


def test_fixed_temperature_is_a_buffer() -> None:
    loss_fn = CLIPLoss(temperature=0.2, learn_temperature=False)
    assert list(loss_fn.parameters()) == []
    assert "log_scale" in loss_fn.state_dict()
    images = torch.randn(4, 3, requires_grad=True)
    loss_fn(images, torch.randn(4, 3)).backward()
    assert images.grad is not None
    assert loss_fn.temperature() == pytest.approx(0.2, rel=1e-6)


def test_bfloat16_embeddings_are_reduced_in_float32() -> None:
    loss_fn = CLIPLoss()
    images, texts = torch.randn(8, 16), torch.randn(8, 16)
    low = loss_fn(images.bfloat16(), texts.bfloat16())
    assert low.dtype == torch.float32
    expected = loss_fn(images.bfloat16().float(), texts.bfloat16().float())
    torch.testing.assert_close(low, expected)


def test_autocast_does_not_lower_the_precision() -> None:
    loss_fn = CLIPLoss().double()
    images, texts = _inputs(4, 5, seed=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = loss_fn(images, texts)
    assert low.dtype == F64
    torch.testing.assert_close(low, loss_fn(images, texts), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("images", "texts", "match"),
    [
        (torch.randn(4), torch.randn(4, 3), r"image_embeddings must have shape \(B, D\)"),
        (torch.randn(4, 3), torch.randn(4, 3, 1), r"text_embeddings must have shape \(B, D\)"),
        (torch.randn(4, 3), torch.randn(5, 3), r"same shape; got \(4, 3\) and \(5, 3\)"),
    ],
)
def test_bad_shapes_are_rejected(images: Tensor, texts: Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CLIPLoss()(images, texts)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": 0.0}, "temperature must be > 0; got 0.0"),
        ({"max_scale": -1.0}, "max_scale must be > 0; got -1.0"),
        ({"temperature": 0.005}, r"1 / temperature = 200 is above max_scale=100"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CLIPLoss(**kwargs)


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("spt_losses.clip"), verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
