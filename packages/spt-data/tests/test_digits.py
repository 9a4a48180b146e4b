"""digits(): scikit-learn's bundled digits as uint8 images with a fixed split."""

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from spt_data import digits, static, transforms

pytest.importorskip("sklearn")


def test_split_sizes_and_sample_format():
    train, test = digits("train"), digits("test")
    assert (len(train), len(test)) == (1437, 360)
    sample = train[0]
    assert isinstance(sample["image"], tv_tensors.Image)
    assert sample["image"].shape == (3, 32, 32)
    assert sample["image"].dtype == torch.uint8
    assert isinstance(sample["label"], int)
    assert 0 <= sample["label"] <= 9
    assert sample["sample_idx"] == 0


def test_split_is_stratified_disjoint_and_covering():
    from sklearn.datasets import load_digits

    raw = load_digits()
    train, test = digits("train", size=8, rgb=False), digits("test", size=8, rgb=False)
    as_keys = lambda ds: {bytes(ds.columns["image"][i].numpy()) for i in range(len(ds))}  # noqa: E731
    expected = {bytes(np.round(img * 255 / 16).astype(np.uint8)) for img in raw.images}
    assert as_keys(train) | as_keys(test) == expected
    counts = np.bincount(test.columns["label"], minlength=10)
    assert counts.min() >= 35
    assert counts.max() <= 37


def test_size_8_keeps_scaled_pixels():
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = digits("train", size=8, rgb=False).columns["image"]
    assert images.shape[1:] == (1, 8, 8)
    assert int(images.max()) == 255
    values = set(np.unique(images.numpy()).tolist())
    assert values <= {round(v * 255 / 16) for v in range(17)}
    assert len(values) > 2
    assert raw.images.max() == 16


def test_deterministic():
    a, b = digits("test", size=16), digits("test", size=16)
    assert torch.equal(a.columns["image"], b.columns["image"])
    assert a.columns["label"] == b.columns["label"]


def test_rgb_channels_are_copies_and_upsampling_is_bilinear():
    image = digits("train", size=32)[5]["image"]
    assert torch.equal(image[0], image[1])
    assert torch.equal(image[1], image[2])
    gray = digits("train", size=32, rgb=False)[5]["image"]
    assert torch.equal(gray[0], image[0])
    assert len(torch.unique(gray)) > 17  # interpolated values, not nearest-neighbour copies


def test_v2_transforms_and_static_stats_work_on_samples():
    ds = digits(
        "train",
        transform=transforms.Compose(
            transforms.RandomResizedCrop((24, 24)), transforms.ToImage(**static.digits)
        ),
    )
    image = ds[0]["image"]
    assert image.shape == (3, 24, 24)
    assert image.dtype == torch.float32
    assert v2.RandomHorizontalFlip(p=1.0)(digits("test")[0]["image"]).shape == (3, 32, 32)


def test_static_digits_matches_the_training_images():
    images = digits("train").columns["image"].float() / 255
    assert abs(images.mean().item() - static.digits["mean"][0]) < 1e-3
    assert abs(images.std().item() - static.digits["std"][0]) < 1e-3


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"split": "val"}, "split must be one of"), ({"size": 0}, "size")]
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        digits(**kwargs)
