"""Per-sample draws follow the CPU transforms' specification (fixed seeds, generous bounds)."""

import math

import pytest
import torch
from torchvision.transforms import v2

from spt_data.gpu import (
    ColorJitter,
    GaussianBlur,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomSolarize,
)

N = 20_000
SHAPE = torch.Size([N, 3, 32, 32])


def draw(op, shape=SHAPE, seed=0):
    return op.sample_params(shape, torch.device("cpu"), torch.Generator().manual_seed(seed))


def torchvision_boxes(n, size, scale, ratio, seed=0):
    torch.manual_seed(seed)
    img = torch.zeros(3, *size)
    boxes = [v2.RandomResizedCrop.get_params(img, list(scale), list(ratio)) for _ in range(n)]
    return torch.tensor(boxes, dtype=torch.float64)  # (n, 4): top, left, h, w


@pytest.mark.parametrize(("scale", "size"), [((0.08, 1.0), (32, 32)), ((0.2, 1.0), (48, 64))])
def test_crop_area_and_ratio_match_torchvision_sampler(scale, size):
    ratio = (3 / 4, 4 / 3)
    p = draw(RandomResizedCrop(16, scale=scale, ratio=ratio), torch.Size([N, 3, *size]))
    h, w = p["height"].double(), p["width"].double()
    area = h * w / (size[0] * size[1])
    log_ratio = torch.log(w / h)
    assert (p["top"] >= 0).all()
    assert (p["top"] + p["height"] <= size[0]).all()
    assert (p["left"] >= 0).all()
    assert (p["left"] + p["width"] <= size[1]).all()
    # integer rounding of the box can leave the range by a pixel row or column
    assert area.min() > scale[0] * 0.8
    assert area.max() <= 1.0
    assert log_ratio.abs().max() < math.log(4 / 3) + 0.15
    ref = torchvision_boxes(4000, size, scale, ratio)
    ref_area = ref[:, 2] * ref[:, 3] / (size[0] * size[1])
    ref_log_ratio = torch.log(ref[:, 3] / ref[:, 2])
    qs = torch.tensor([0.1, 0.25, 0.5, 0.75, 0.9], dtype=torch.float64)
    torch.testing.assert_close(area.quantile(qs), ref_area.quantile(qs), atol=0.04, rtol=0)
    torch.testing.assert_close(
        log_ratio.quantile(qs), ref_log_ratio.quantile(qs), atol=0.05, rtol=0
    )
    # the position is uniform over the valid offsets: its mean is half the slack
    slack = (size[0] - h).mean()
    assert abs(p["top"].double().mean() - slack / 2) < 0.05 * size[0]


def test_crop_falls_back_to_torchvisions_centre_crop():
    shape = torch.Size([64, 3, 10, 100])  # no box of area >= 0.9 and ratio <= 4/3 fits
    p = draw(RandomResizedCrop(8, scale=(0.9, 1.0)), shape)
    torch.manual_seed(0)
    ref = v2.RandomResizedCrop.get_params(torch.zeros(3, 10, 100), [0.9, 1.0], [3 / 4, 4 / 3])
    for k, v in zip(("top", "left", "height", "width"), ref, strict=True):
        assert (p[k] == v).all(), k


def test_flip_rate_is_half():
    rate = draw(RandomHorizontalFlip())["flip"].float().mean().item()
    assert abs(rate - 0.5) < 0.02


@pytest.mark.parametrize(
    ("name", "lo", "hi"),
    [
        ("brightness", 0.6, 1.4),
        ("contrast", 0.6, 1.4),
        ("saturation", 0.8, 1.2),
        ("hue", -0.1, 0.1),
    ],
)
def test_jitter_factors_are_uniform_in_range(name, lo, hi):
    f = draw(ColorJitter(0.4, 0.4, 0.2, 0.1))[name]
    assert f.min() >= lo
    assert f.max() <= hi
    counts = torch.histc(f, bins=10, min=lo, max=hi) / N
    assert (counts - 0.1).abs().max() < 0.015


def test_jitter_order_is_a_uniform_random_permutation_per_sample():
    order = draw(ColorJitter(0.4, 0.4, 0.2, 0.1))["order"]
    assert (order.sort(dim=1).values == torch.arange(4)).all()
    for pos in range(4):
        freq = torch.bincount(order[:, pos], minlength=4).float() / N
        assert (freq - 0.25).abs().max() < 0.02
    n_distinct = len({tuple(r) for r in order[:2000].tolist()})
    assert n_distinct == 24


@pytest.mark.parametrize("p", [0.2, 0.8])
def test_each_p_is_honoured(p):
    rates = {
        "grayscale": draw(RandomGrayscale(p))["gray"].float().mean(),
        "solarize": draw(RandomSolarize(0.5, p))["solarize"].float().mean(),
        "flip": draw(RandomHorizontalFlip(p))["flip"].float().mean(),
        "jitter": (draw(ColorJitter(0.4, p=p))["brightness"] != 1.0).float().mean(),
        "blur": (draw(GaussianBlur(3, p=p))["sigma"] > 0).float().mean(),
        "crop": (draw(RandomResizedCrop(8, scale=(0.1, 0.5), p=p))["height"] < 32).float().mean(),
    }
    for name, rate in rates.items():
        assert abs(rate.item() - p) < 0.02, name


def test_blur_sigma_is_uniform_in_range():
    s = draw(GaussianBlur(3, sigma=(0.1, 2.0)))["sigma"]
    assert s.min() >= 0.1
    assert s.max() <= 2.0
    assert abs(s.mean().item() - 1.05) < 0.02
