"""The dict layer and each transform: keys, pass-through, p=0 and p=1 behaviour."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from spt_data import static, transforms


def pil_image(seed=0, size=(32, 32), mode="RGB"):
    g = torch.Generator().manual_seed(seed)
    channels = 3 if mode == "RGB" else 1
    array = torch.randint(0, 256, (size[1], size[0], channels), generator=g, dtype=torch.uint8)
    return Image.fromarray(array.squeeze(-1).numpy(), mode=mode)


def tensor_image(seed=0, dtype=torch.uint8):
    g = torch.Generator().manual_seed(seed)
    x = tv_tensors.Image(torch.randint(0, 256, (3, 16, 16), generator=g, dtype=torch.uint8))
    return x if dtype == torch.uint8 else TF.to_dtype(x, dtype, scale=True)


def sample(image=None):
    return {"image": tensor_image() if image is None else image, "label": 7, "sample_idx": 3}


RANDOM = {
    "RandomResizedCrop": lambda p: transforms.RandomResizedCrop((8, 8), scale=(0.2, 0.5), p=p),
    "RandomHorizontalFlip": lambda p: transforms.RandomHorizontalFlip(p=p),
    "ColorJitter": lambda p: transforms.ColorJitter(0.8, 0.8, 0.8, 0.2, p=p),
    "RandomGrayscale": lambda p: transforms.RandomGrayscale(p=p),
    "RandomSolarize": lambda p: transforms.RandomSolarize(threshold=0.5, p=p),
    "GaussianBlur": lambda p: transforms.GaussianBlur(5, sigma=(1.0, 2.0), p=p),
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_transform_with_p0_returns_the_image_unchanged(name):
    s = sample()
    for _ in range(5):
        out = RANDOM[name](0.0)(s)
        assert out["image"] is s["image"]


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_transform_with_p1_always_changes_the_image(name):
    s = sample()
    for seed in range(5):
        torch.manual_seed(seed)
        out = RANDOM[name](1.0)(s)
        assert out["image"].shape != s["image"].shape or not torch.equal(out["image"], s["image"])


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_transform_applies_with_frequency_p(name):
    torch.manual_seed(0)
    t = RANDOM[name](0.3)
    s = sample()
    changed = 0
    for _ in range(300):
        out = t(s)["image"]
        changed += out.shape != s["image"].shape or not torch.equal(out, s["image"])
    assert 60 <= changed <= 120  # 90 expected; binomial sd about 8


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_transform_rejects_p_outside_unit_interval(name):
    with pytest.raises(ValueError, match="p must be a probability"):
        RANDOM[name](1.5)


def test_flip_p1_matches_torchvision_flip():
    s = sample()
    out = transforms.RandomHorizontalFlip(p=1.0)(s)
    assert torch.equal(out["image"], TF.horizontal_flip(s["image"]))


def test_grayscale_p1_gives_equal_channels():
    out = transforms.RandomGrayscale(p=1.0)(sample())["image"]
    assert out.shape == (3, 16, 16)
    assert torch.equal(out[0], out[1])
    assert torch.equal(out[1], out[2])


def test_solarize_threshold_is_on_unit_scale_for_uint8_float_and_pil():
    u8 = tensor_image()
    out = transforms.RandomSolarize(threshold=0.5, p=1.0)(sample(u8))["image"]
    expected = torch.where(u8 >= 127.5, 255 - u8, u8)
    assert torch.equal(out, expected)

    f = tensor_image(dtype=torch.float32)
    out_f = transforms.RandomSolarize(threshold=0.5, p=1.0)(sample(f))["image"]
    assert torch.allclose(out_f, torch.where(f >= 0.5, 1.0 - f, f))

    pil = pil_image()
    out_pil = transforms.RandomSolarize(threshold=0.5, p=1.0)(sample(pil))["image"]
    ref = TF.pil_to_tensor(pil)
    assert torch.equal(TF.pil_to_tensor(out_pil), torch.where(ref >= 127.5, 255 - ref, ref))


def test_solarize_rejects_a_uint8_scale_threshold():
    with pytest.raises(ValueError, match=r"\[0, 1\] scale.*128 / 255|\[0, 1\] scale.*t / 255"):
        transforms.RandomSolarize(threshold=128)


def test_blur_p1_matches_torchvision_blur_with_fixed_sigma():
    s = sample(tensor_image(dtype=torch.float32))
    out = transforms.GaussianBlur(5, sigma=1.5, p=1.0)(s)["image"]
    assert torch.allclose(out, TF.gaussian_blur(s["image"], [5, 5], [1.5, 1.5]))


def test_random_resized_crop_p0_keeps_size_and_p1_resizes():
    s = sample()
    assert transforms.RandomResizedCrop(8, p=1.0)(s)["image"].shape == (3, 8, 8)
    assert transforms.RandomResizedCrop(8, p=0.0)(s)["image"].shape == (3, 16, 16)


def test_dict_layer_passes_other_keys_through_and_does_not_modify_input():
    s = sample()
    original = dict(s)
    out = transforms.RandomHorizontalFlip(p=1.0)(s)
    assert out["label"] == 7
    assert out["sample_idx"] == 3
    assert s == original
    assert out is not s


def test_dict_layer_transforms_the_key_it_is_given():
    s = {"image": tensor_image(), "other": tensor_image(1), "label": 0}
    out = transforms.RandomHorizontalFlip(p=1.0, key="other")(s)
    assert out["image"] is s["image"]
    assert torch.equal(out["other"], TF.horizontal_flip(s["other"]))


def test_missing_key_names_the_key_and_the_keys_present():
    with pytest.raises(
        KeyError, match=r"'image' is not in the sample; keys present: \['label', 'x'\]"
    ):
        transforms.RandomHorizontalFlip()({"x": torch.zeros(3, 4, 4), "label": 0})


def test_non_dict_sample_is_a_clear_error():
    with pytest.raises(TypeError, match=r"expected a sample dict.*FromTorchDataset"):
        transforms.RGB()((pil_image(), 0))


def test_dict_transform_wraps_any_v2_op():
    t = transforms.DictTransform(v2.RandomVerticalFlip(p=1.0), key="image")
    s = sample()
    assert torch.equal(t(s)["image"], TF.vertical_flip(s["image"]))


def test_rgb_turns_grayscale_pil_into_three_channels():
    out = transforms.RGB()(sample(pil_image(mode="L")))["image"]
    assert out.mode == "RGB"


def test_resize_and_center_crop_sizes():
    s = sample()
    assert transforms.Resize((10, 12))(s)["image"].shape == (3, 10, 12)
    assert transforms.CenterCrop(6)(s)["image"].shape == (3, 6, 6)


def test_to_image_gives_normalised_float_tensor_like_a_manual_reference():
    pil = pil_image()
    out = transforms.ToImage(**static.CIFAR10)(sample(pil))["image"]
    raw = torch.from_numpy(np.array(pil)).float()  # (H, W, C)
    mean = torch.tensor(static.CIFAR10["mean"]).view(3, 1, 1)
    std = torch.tensor(static.CIFAR10["std"]).view(3, 1, 1)
    expected = (raw.permute(2, 0, 1) / 255.0 - mean) / std
    assert out.dtype == torch.float32
    assert out.shape == (3, 32, 32)
    assert torch.allclose(out, expected, atol=1e-5)


def test_to_image_without_stats_scales_to_unit_range():
    out = transforms.ToImage()(sample(pil_image()))["image"]
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0.0
    assert float(out.max()) <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mean": (0.5, 0.5, 0.5)}, "both mean and std"),
        ({"mean": (0.5,), "std": (0.2, 0.2)}, "one of each per channel"),
        ({"mean": (0.5,), "std": (0.0,)}, "positive"),
    ],
)
def test_to_image_rejects_bad_stats(kwargs, match):
    with pytest.raises(ValueError, match=match):
        transforms.ToImage(**kwargs)


def test_compose_takes_separate_arguments_or_a_list():
    s = sample()
    flip = transforms.RandomHorizontalFlip(p=1.0)
    twice = transforms.Compose(flip, flip)
    assert torch.equal(twice(s)["image"], s["image"])
    assert len(transforms.Compose([flip, flip, flip])) == 3
    assert "RandomHorizontalFlip" in repr(twice)


def test_compose_rejects_non_callables():
    with pytest.raises(TypeError, match="transform 1 must be callable"):
        transforms.Compose(transforms.RGB(), "flip")
