"""Each batched op, with its parameters fixed, matches torchvision v2 functional per sample."""

import math

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torch import nn

from spt_data.gpu import (
    ColorJitter,
    GaussianBlur,
    GPUCompose,
    Normalize,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomSolarize,
    ToFloat,
    resized_crop,
)
from spt_data.gpu.color import (
    _OPS,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
)

TOL = 1 / 255


def smooth_images(n=4, h=40, w=48, seed=0):
    """Low-frequency colour images in [0, 1] (bilinear kernels agree closely on them)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    freq = torch.rand(n, 3, 2, generator=g) * 3
    phase = torch.rand(n, 3, 1, 1, generator=g) * 6
    img = torch.sin(freq[..., 0, None, None] * 3 * yy + freq[..., 1, None, None] * 2 * xx + phase)
    return (img + 1) / 2


def rand_images(n=4, h=16, w=16, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


BOXES = [(0, 0, 40, 48), (3, 5, 20, 30), (10, 2, 7, 9), (0, 20, 40, 28)]


@pytest.mark.parametrize("size", [(32, 32), (16, 24), (56, 40)])
def test_resized_crop_matches_torchvision_without_antialias(size):
    x = smooth_images()
    top, left, h, w = (torch.tensor(v) for v in zip(*BOXES, strict=True))
    ours = resized_crop(x, top, left, h, w, size, antialias=False)
    for i, box in enumerate(BOXES):
        ref = TF.resized_crop(x[i], *box, size=list(size), antialias=False)
        torch.testing.assert_close(ours[i], ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(32, 32), (8, 12)])
def test_resized_crop_matches_torchvision_with_antialias(size):
    x = rand_images(h=40, w=48)
    top, left, h, w = (torch.tensor(v) for v in zip(*BOXES, strict=True))
    ours = resized_crop(x, top, left, h, w, size, antialias=True)
    for i, box in enumerate(BOXES):
        ref = TF.resized_crop(x[i], *box, size=list(size), antialias=True)
        torch.testing.assert_close(ours[i], ref, atol=TOL, rtol=0)


def test_random_resized_crop_applies_its_drawn_boxes():
    x = smooth_images()
    crop = RandomResizedCrop((24, 24), scale=(0.2, 1.0))
    params = crop.sample_params(x.shape, x.device, torch.Generator().manual_seed(0))
    out = crop.apply_params(x, params)
    for i in range(len(x)):
        box = [int(params[k][i]) for k in ("top", "left", "height", "width")]
        ref = TF.resized_crop(x[i], *box, size=[24, 24], antialias=True)
        torch.testing.assert_close(out[i], ref, atol=TOL, rtol=0)


def test_flip_matches_torchvision():
    x = rand_images()
    flip = torch.tensor([True, False, True, False])
    out = RandomHorizontalFlip().apply_params(x, {"flip": flip})
    for i in range(4):
        ref = TF.horizontal_flip(x[i]) if flip[i] else x[i]
        torch.testing.assert_close(out[i], ref, atol=0, rtol=0)


@pytest.mark.parametrize(
    ("ours", "theirs", "factors"),
    [
        (adjust_brightness, TF.adjust_brightness, [0.6, 1.0, 1.4, 1.2]),
        (adjust_contrast, TF.adjust_contrast, [0.6, 1.0, 1.4, 0.0]),
        (adjust_saturation, TF.adjust_saturation, [0.8, 1.0, 1.2, 0.0]),
        (adjust_hue, TF.adjust_hue, [-0.1, 0.0, 0.1, 0.5]),
    ],
)
def test_color_adjustments_match_torchvision(ours, theirs, factors):
    x = rand_images()
    out = ours(x, torch.tensor(factors))
    for i, f in enumerate(factors):
        torch.testing.assert_close(out[i], theirs(x[i], f), atol=TOL, rtol=0)


def test_hue_roundtrip_keeps_grey_and_saturated_pixels():
    x = torch.tensor([[0.5, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]).T.reshape(1, 3, 1, 3)
    out = adjust_hue(x, torch.tensor([0.25]))
    ref = TF.adjust_hue(x[0], 0.25)
    torch.testing.assert_close(out[0], ref, atol=1e-6, rtol=0)


def _jitter_reference(img, params, i, order):
    fns = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    names = ["brightness", "contrast", "saturation", "hue"]
    for k in order:
        img = fns[k](img, float(params[names[k]][i]))
    return img


@pytest.mark.parametrize("order", ["random", "fixed"])
def test_color_jitter_matches_torchvision_in_each_samples_order(order):
    x = rand_images(n=32)
    jitter = ColorJitter(0.4, 0.4, 0.3, 0.1, order=order)
    params = jitter.sample_params(x.shape, x.device, torch.Generator().manual_seed(3))
    out = jitter.apply_params(x, params)
    if order == "random":  # the hue rotation comes first, second, third and last somewhere
        assert set((params["order"] == 3).int().argmax(dim=1).tolist()) == {0, 1, 2, 3}
    for i in range(len(x)):
        order_i = params["order"][i].tolist()
        if order == "fixed":
            assert order_i == [0, 1, 2, 3]
        ref = _jitter_reference(x[i], params, i, order_i)
        torch.testing.assert_close(out[i], ref, atol=TOL, rtol=0)


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"hue": 0.2}, ["hue"]),
        ({"brightness": 0.5, "saturation": 0.5}, ["brightness", "saturation"]),
    ],
)
def test_color_jitter_with_some_factors_off_matches_torchvision(kwargs, names):
    x = rand_images(n=16)
    jitter = ColorJitter(**kwargs)
    params = jitter.sample_params(x.shape, x.device, torch.Generator().manual_seed(5))
    out = jitter.apply_params(x, params)
    for i in range(len(x)):
        order_i = [k for k in params["order"][i].tolist() if _OPS[k] in jitter.active]
        ref = _jitter_reference(x[i], params, i, order_i)
        torch.testing.assert_close(out[i], ref, atol=TOL, rtol=0)
    assert sorted(jitter.active) == sorted(names)


def test_grayscale_matches_torchvision():
    x = rand_images()
    gray = torch.tensor([True, False, False, True])
    out = RandomGrayscale().apply_params(x, {"gray": gray})
    for i in range(4):
        ref = TF.rgb_to_grayscale(x[i], num_output_channels=3) if gray[i] else x[i]
        torch.testing.assert_close(out[i], ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("kernel_size", [3, 5, (3, 7)])
def test_gaussian_blur_matches_torchvision_per_sample_sigma(kernel_size):
    x = rand_images(h=12, w=14)
    sigma = torch.tensor([0.1, 0.7, 2.0, 0.0])
    blur = GaussianBlur(kernel_size)
    out = blur.apply_params(x, {"sigma": sigma})
    ks = list(blur.kernel_size)
    for i, s in enumerate(sigma.tolist()):
        ref = TF.gaussian_blur(x[i], ks, [s, s]) if s > 0 else x[i]
        torch.testing.assert_close(out[i], ref, atol=1e-5, rtol=0)


def test_solarize_matches_torchvision():
    x = rand_images()
    sol = torch.tensor([True, True, False, True])
    out = RandomSolarize(0.5).apply_params(x, {"solarize": sol})
    for i in range(4):
        ref = TF.solarize(x[i], 0.5) if sol[i] else x[i]
        torch.testing.assert_close(out[i], ref, atol=0, rtol=0)


def test_normalize_and_to_float_match_torchvision():
    x = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)
    mean, std = [0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]
    as_float = ToFloat()(x)
    torch.testing.assert_close(as_float, TF.to_dtype(x, torch.float32, scale=True))
    ref = TF.normalize(as_float, mean, std)
    torch.testing.assert_close(Normalize(mean, std)(x), ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "op",
    [
        ColorJitter(0.4, 0.4, 0.2, 0.1),
        RandomSolarize(0.5, p=1.0),
        RandomGrayscale(p=1.0),
        GaussianBlur(3),
        RandomResizedCrop(8),
    ],
    ids=lambda op: type(op).__name__,
)
def test_uint8_input_equals_float_input(op):
    x = torch.randint(0, 256, (3, 3, 12, 12), dtype=torch.uint8)
    a = op(x, generator=torch.Generator().manual_seed(0))
    b = op(x.float() / 255, generator=torch.Generator().manual_seed(0))
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_identity_parameters_leave_images_unchanged():
    x = rand_images()
    ops = [
        ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.0),
        RandomGrayscale(p=0.0),
        RandomSolarize(0.5, p=0.0),
        GaussianBlur(3, p=0.0),
        RandomHorizontalFlip(p=0.0),
        RandomResizedCrop(16, p=0.0),
    ]
    for op in ops:
        torch.testing.assert_close(op(x), x, atol=1e-6, rtol=0, msg=type(op).__name__)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: RandomResizedCrop(32, scale=(0.5, 0.1)), "scale"),
        (lambda: ColorJitter(hue=0.7), "hue"),
        (lambda: ColorJitter(brightness=-1), "brightness"),
        (lambda: GaussianBlur(4), "kernel_size"),
        (lambda: RandomSolarize(128), "threshold"),
        (lambda: RandomGrayscale(p=1.5), "p="),
        (lambda: Normalize([0.5, 0.5], [0.5]), "mean"),
    ],
)
def test_bad_arguments_are_named(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_non_batch_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomHorizontalFlip()(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="3-channel"):
        ColorJitter(0.4)(torch.rand(2, 1, 8, 8))


def test_module_apply_still_walks_children():
    compose = GPUCompose(RandomResizedCrop(8), ColorJitter(0.4), Normalize([0.5] * 3, [0.5] * 3))
    seen = []
    compose.apply(lambda m: seen.append(type(m).__name__))
    assert {"RandomResizedCrop", "ColorJitter", "Normalize"} <= set(seen)
    assert isinstance(compose.ops[0], nn.Module)
    assert math.isclose(compose.ops[1].ranges["brightness"][1], 1.4)
