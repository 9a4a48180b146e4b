"""Multi-crop: global views first, then smaller local views, each drawn independently."""

import pytest
import torch
from torch.utils.data import DataLoader

from spt_data import DictDataset, gpu, transforms


def cpu_multi_crop(n_local: int = 4) -> transforms.MultiCropTransform:
    return transforms.MultiCropTransform(
        transforms.RandomResizedCrop(24, scale=(0.14, 1.0)),
        transforms.RandomResizedCrop(12, scale=(0.05, 0.14)),
        n_global=2,
        n_local=n_local,
    )


def gpu_multi_crop(n_local: int = 4) -> gpu.MultiCropGPUTransform:
    return gpu.MultiCropGPUTransform(
        gpu.GPUCompose(gpu.RandomResizedCrop(24, scale=(0.14, 1.0))),
        gpu.GPUCompose(gpu.RandomResizedCrop(12, scale=(0.05, 0.14))),
        n_global=2,
        n_local=n_local,
    )


def sample() -> dict:
    g = torch.Generator().manual_seed(0)
    return {"image": torch.rand(3, 32, 32, generator=g), "label": 3, "sample_idx": 7}


def test_cpu_multi_crop_gives_global_views_then_local_views_of_their_sizes():
    views = cpu_multi_crop(n_local=4)(sample())
    assert [tuple(v["image"].shape) for v in views] == [(3, 24, 24)] * 2 + [(3, 12, 12)] * 4
    assert all(v["label"] == 3 and v["sample_idx"] == 7 for v in views)


def test_cpu_local_crops_of_one_sample_are_independent_draws():
    torch.manual_seed(0)
    views = cpu_multi_crop(n_local=4)(sample())
    local = [v["image"] for v in views[2:]]
    assert all(not torch.equal(local[0], other) for other in local[1:])
    assert not torch.equal(views[0]["image"], views[1]["image"])


def test_cpu_multi_crop_is_reproducible_under_a_seed():
    torch.manual_seed(3)
    first = cpu_multi_crop()(sample())
    torch.manual_seed(3)
    second = cpu_multi_crop()(sample())
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(first, second, strict=True))


def test_cpu_multi_crop_takes_one_transform_per_global_view():
    marks = [transforms.DictTransform(lambda x, k=k: x * 0 + k) for k in (1.0, 2.0)]
    t = transforms.MultiCropTransform(marks, transforms.DictTransform(lambda x: x * 0), n_local=1)
    views = t({"image": torch.ones(2)})
    assert [float(v["image"][0]) for v in views] == [1.0, 2.0, 0.0]
    assert (t.n_global, t.n_local, t.n_views) == (2, 1, 3)


def test_default_collate_batches_each_view_at_its_own_size():
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    data = DictDataset({"image": images, "label": list(range(6))}, transform=cpu_multi_crop(2))
    batch = next(iter(DataLoader(data, batch_size=3)))
    assert [tuple(v["image"].shape) for v in batch] == [(3, 3, 24, 24)] * 2 + [(3, 3, 12, 12)] * 2
    assert all(v["sample_idx"].tolist() == [0, 1, 2] for v in batch)


def test_gpu_multi_crop_gives_global_views_then_local_views_of_their_sizes():
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    views = gpu_multi_crop(n_local=3)({"image": x, "label": torch.arange(5)})
    assert [tuple(v["image"].shape) for v in views] == [(5, 3, 24, 24)] * 2 + [(5, 3, 12, 12)] * 3
    assert all(v["label"].tolist() == list(range(5)) for v in views)


def test_gpu_local_crops_are_independent_per_view_and_reproducible_with_a_generator():
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    t = gpu_multi_crop(n_local=3)
    first = t(x, generator=torch.Generator().manual_seed(0))
    again = t(x, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[2], first[3])
    assert not torch.equal(first[3], first[4])


def test_from_cpu_keeps_the_multi_crop_layout():
    built = gpu.from_cpu(cpu_multi_crop(n_local=5))
    assert isinstance(built, gpu.MultiCropGPUTransform)
    assert (built.n_global, built.n_local) == (2, 5)
    views = built(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    assert [v.shape[-1] for v in views] == [24, 24, 12, 12, 12, 12, 12]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_global": 0}, "n_global must be an int >= 1, got 0"),
        ({"n_local": -1}, "n_local must be an int >= 0, got -1"),
        ({"global_transforms": [abs]}, "1 global_transforms were given for 2 views"),
    ],
)
def test_bad_multi_crop_counts_are_named(kwargs, message):
    args = {"global_transforms": abs, "local_transforms": abs, **kwargs}
    with pytest.raises(ValueError, match=message):
        transforms.MultiCropTransform(**args)
    with pytest.raises(ValueError, match=message):
        gpu.MultiCropGPUTransform(**args)
