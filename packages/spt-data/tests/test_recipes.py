"""The papers' augmentation recipes: view counts, sizes, parameters and seeded draws."""

import pytest
import torch

import spt_data
from spt_data import gpu, recipes
from spt_data import transforms as T

SMALL = {"size": 32}
MULTI = {"size": 32, "local_size": 16, "n_local": 3}
CASES = [
    ("simclr", SMALL, [32, 32]),
    ("byol", SMALL, [32, 32]),
    ("moco_v2", SMALL, [32, 32]),
    ("swav", MULTI, [32, 32, 16, 16, 16]),
    ("dino", MULTI, [32, 32, 16, 16, 16]),
]


def image() -> torch.Tensor:
    return torch.randint(0, 256, (3, 40, 40), dtype=torch.uint8, generator=torch.Generator())


def ops(view: T.Compose, kind: type) -> list:
    return [t for t in view.transforms if isinstance(t, kind)]


@pytest.mark.parametrize(("name", "kwargs", "sides"), CASES)
def test_cpu_recipe_makes_its_views_at_their_sizes_on_a_uint8_image(name, kwargs, sides):
    views = getattr(recipes, name)(**kwargs)({"image": image(), "label": 1})
    assert [tuple(v["image"].shape) for v in views] == [(3, s, s) for s in sides]
    assert all(v["image"].dtype == torch.float32 and v["label"] == 1 for v in views)


@pytest.mark.parametrize(("name", "kwargs", "sides"), CASES)
def test_gpu_recipe_makes_its_views_at_their_sizes_on_a_uint8_batch(name, kwargs, sides):
    t = getattr(recipes, name)(**kwargs, gpu=True)
    assert isinstance(t, gpu.MultiViewGPUTransform)
    x = torch.randint(0, 256, (4, 3, 40, 40), dtype=torch.uint8)
    views = t({"image": x, "label": torch.arange(4)})
    assert [tuple(v["image"].shape) for v in views] == [(4, 3, s, s) for s in sides]


@pytest.mark.parametrize(("name", "kwargs", "sides"), CASES)
def test_recipes_are_reproducible_under_a_seed(name, kwargs, sides):
    build = getattr(recipes, name)
    torch.manual_seed(0)
    first = build(**kwargs)({"image": image()})
    torch.manual_seed(0)
    second = build(**kwargs)({"image": image()})
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(first, second, strict=True))
    t = build(**kwargs, gpu=True)
    x = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    a = t(x, generator=torch.Generator().manual_seed(1))
    b = t(x, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def test_supervised_recipe_is_one_view_on_cpu_and_device():
    out = recipes.supervised(32)({"image": image()})
    assert tuple(out["image"].shape) == (3, 32, 32)
    batch = recipes.supervised(32, gpu=True)(torch.zeros(2, 3, 40, 40, dtype=torch.uint8))
    assert tuple(batch.shape) == (2, 3, 32, 32)


def test_byol_views_are_asymmetric_in_blur_and_solarisation():
    first, second = recipes.byol(224).transforms
    assert [t.p for t in ops(first, T.GaussianBlur)] == [1.0]
    assert ops(first, T.RandomSolarize) == []
    assert [t.p for t in ops(second, T.GaussianBlur)] == [0.1]
    assert [t.p for t in ops(second, T.RandomSolarize)] == [0.2]
    assert tuple(ops(first, T.GaussianBlur)[0].op.kernel_size) == (23, 23)


def test_dino_blur_and_solarisation_schedule_over_the_views():
    t = recipes.dino(224)
    assert (t.n_global, t.n_local) == (2, 8)
    blur = [[b.p for b in ops(v, T.GaussianBlur)] for v in t.transforms]
    solarize = [[s.p for s in ops(v, T.RandomSolarize)] for v in t.transforms]
    assert blur == [[1.0], [0.1]] + [[0.5]] * 8
    assert solarize == [[], [0.2]] + [[]] * 8
    crops = [ops(v, T.RandomResizedCrop)[0].op for v in t.transforms]
    assert [c.scale for c in crops] == [(0.4, 1.0)] * 2 + [(0.05, 0.4)] * 8
    assert [tuple(c.size) for c in crops] == [(224, 224)] * 2 + [(96, 96)] * 8


def test_swav_multi_crop_is_two_224_and_six_96_at_the_paper_scales():
    t = recipes.swav()
    crops = [ops(v, T.RandomResizedCrop)[0].op for v in t.transforms]
    assert [tuple(c.size) for c in crops] == [(224, 224)] * 2 + [(96, 96)] * 6
    assert [c.scale for c in crops] == [(0.14, 1.0)] * 2 + [(0.05, 0.14)] * 6
    built = recipes.swav(gpu=True)
    assert isinstance(built, gpu.MultiCropGPUTransform)
    assert (built.n_global, built.n_local) == (2, 6)


def test_moco_v2_and_simclr_parameters():
    moco = recipes.moco_v2(224).transforms[0]
    assert ops(moco, T.RandomResizedCrop)[0].op.scale == (0.2, 1.0)
    assert ops(moco, T.GaussianBlur)[0].p == 0.5
    simclr = recipes.simclr(224).transforms[0]
    jitter = ops(simclr, T.ColorJitter)[0]
    assert jitter.p == 0.8
    assert jitter.op.brightness == (pytest.approx(0.2), pytest.approx(1.8))


def test_recipe_normalises_with_the_given_statistics():
    t = recipes.simclr(32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    to_image = t.transforms[0].transforms[-1]
    assert (to_image.mean, to_image.std) == ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def test_blur_kernel_is_about_a_tenth_of_the_side_and_odd():
    assert [recipes.blur_kernel_size(s) for s in (224, 96, 32, 16)] == [23, 9, 3, 3]


def test_bad_size_is_named():
    with pytest.raises(ValueError, match=r"local_size must be a positive int.*got 0"):
        recipes.swav(224, local_size=0)


def test_recipes_are_reachable_from_the_package():
    assert spt_data.recipes.dino is recipes.dino
