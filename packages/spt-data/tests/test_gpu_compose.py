"""GPUCompose, MultiViewGPUTransform, generators, independence and the uint8 loading path."""

import pytest
import torch

from spt_data.gpu import (
    ColorJitter,
    GaussianBlur,
    GPUCompose,
    MultiViewGPUTransform,
    Normalize,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomSolarize,
    ToFloat,
    transfer_batch,
    uint8_loader,
)

CIFAR10 = {"mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.243, 0.261]}


def simclr_recipe(scale, solarize):
    ops = [
        RandomResizedCrop((32, 32), scale=scale),
        RandomHorizontalFlip(p=0.5),
        ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p=0.8),
        RandomGrayscale(p=0.2),
    ]
    if solarize:
        ops.append(RandomSolarize(threshold=0.5, p=0.2))
    return GPUCompose(*ops, Normalize(**CIFAR10))


def simclr_views():
    return MultiViewGPUTransform(
        [simclr_recipe((0.2, 1.0), False), simclr_recipe((0.08, 1.0), True)]
    )


def uint8_batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    return {"image": image, "label": torch.arange(n) % 3, "sample_idx": torch.arange(n)}


def test_multiview_returns_one_dict_per_view_with_shared_keys():
    batch = uint8_batch()
    views = simclr_views()(batch)
    assert isinstance(views, list)
    assert len(views) == 2
    for view in views:
        assert set(view) == {"image", "label", "sample_idx"}
        assert view["image"].shape == (8, 3, 32, 32)
        assert view["image"].dtype == torch.float32
        assert view["label"] is batch["label"]
        assert view["sample_idx"] is batch["sample_idx"]
    assert batch["image"].dtype == torch.uint8  # the input dict is not modified


def test_single_recipe_repeated_n_views():
    views = MultiViewGPUTransform(GPUCompose(RandomHorizontalFlip()), n_views=3)(uint8_batch())
    assert len(views) == 3
    with pytest.raises(ValueError, match="n_views"):
        MultiViewGPUTransform(GPUCompose(RandomHorizontalFlip()))


def test_compose_replaces_only_its_key():
    batch = {"pixels": torch.zeros(2, 3, 4, 4, dtype=torch.uint8), "label": [0, 1]}
    out = GPUCompose(ToFloat(), key="pixels")(batch)
    assert out["pixels"].dtype == torch.float32
    assert out["label"] is batch["label"]
    with pytest.raises(KeyError, match="pixels"):
        GPUCompose(ToFloat())(batch)


def test_normalize_ends_the_recipe_with_cifar_stats():
    x = uint8_batch()["image"]
    out = GPUCompose(ToFloat(), Normalize(**CIFAR10))(x)
    mean = torch.tensor(CIFAR10["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10["std"]).view(1, 3, 1, 1)
    torch.testing.assert_close(out, (x.float() / 255 - mean) / std)


def test_same_seed_same_views_and_different_seed_different_views():
    batch, views = uint8_batch(), simclr_views()
    a = views(batch, generator=torch.Generator().manual_seed(7))
    b = views(batch, generator=torch.Generator().manual_seed(7))
    c = views(batch, generator=torch.Generator().manual_seed(8))
    for va, vb in zip(a, b, strict=True):
        torch.testing.assert_close(va["image"], vb["image"], atol=0, rtol=0)
    assert not torch.equal(a[0]["image"], c[0]["image"])


def test_generator_given_at_construction_is_used():
    batch = uint8_batch()
    gen_a = torch.Generator().manual_seed(3)
    gen_b = torch.Generator().manual_seed(3)
    a = GPUCompose(RandomResizedCrop(16), ColorJitter(0.4, 0.4), generator=gen_a)(batch)
    b = GPUCompose(RandomResizedCrop(16, generator=gen_b), ColorJitter(0.4, 0.4, generator=gen_b))(
        batch
    )
    torch.testing.assert_close(a["image"], b["image"], atol=0, rtol=0)


def test_global_seed_reproduces_without_generator():
    batch, views = uint8_batch(), simclr_views()
    torch.manual_seed(0)
    a = views(batch)
    torch.manual_seed(0)
    b = views(batch)
    torch.testing.assert_close(a[1]["image"], b[1]["image"], atol=0, rtol=0)


def test_samples_in_a_batch_get_different_parameters():
    x = uint8_batch(n=1)["image"].expand(16, -1, -1, -1)  # one image repeated
    gen = torch.Generator().manual_seed(0)
    for op in [RandomResizedCrop(16), ColorJitter(0.4, 0.4, 0.2, 0.1), GaussianBlur(3)]:
        out = op(x, generator=gen)
        distinct = {tuple(o.flatten()[:64].tolist()) for o in out}
        assert len(distinct) == 16, type(op).__name__
    flips = RandomHorizontalFlip().sample_params(torch.Size([64, 3, 8, 8]), x.device, gen)["flip"]
    assert 0 < flips.sum() < 64


def test_two_views_of_a_sample_differ():
    batch = uint8_batch(n=4)
    recipe = GPUCompose(RandomResizedCrop(32), ColorJitter(0.4, 0.4, 0.2, 0.1))
    v1, v2 = MultiViewGPUTransform(recipe, n_views=2)(
        batch, generator=torch.Generator().manual_seed(0)
    )
    for i in range(4):
        assert not torch.allclose(v1["image"][i], v2["image"][i])


def test_compose_maps_a_list_of_view_dicts():
    out = GPUCompose(ToFloat())([uint8_batch(), uint8_batch()])
    assert len(out) == 2
    assert all(v["image"].dtype == torch.float32 for v in out)


def test_plain_callables_can_be_composed():
    out = GPUCompose(ToFloat(), lambda x: x * 2)(uint8_batch()["image"])
    assert out.max() <= 2.0
    assert out.max() > 1.0


class _ImageList(torch.utils.data.Dataset):
    def __init__(self, n, dtype=torch.uint8):
        self.images = torch.randint(0, 256, (n, 3, 8, 8)).to(dtype)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": i % 2, "sample_idx": i}


def test_uint8_loader_yields_uint8_batches_ready_for_the_gpu_recipe():
    loader = uint8_loader(_ImageList(10), batch_size=4, shuffle=False)
    batches = list(loader)
    assert len(batches) == 2  # drop_last
    batch = transfer_batch(batches[0], "cpu")
    assert batch["image"].dtype == torch.uint8
    assert batch["image"].shape == (4, 3, 8, 8)
    views = MultiViewGPUTransform(GPUCompose(RandomResizedCrop(8)), n_views=2)(batch)
    assert views[0]["sample_idx"].tolist() == [0, 1, 2, 3]


def test_uint8_loader_rejects_float_images_clearly():
    loader = uint8_loader(_ImageList(4, dtype=torch.float32), batch_size=2)
    with pytest.raises(TypeError, match="uint8"):
        next(iter(loader))


def test_uint8_loader_pins_memory_when_cuda_is_there_or_when_asked():
    assert uint8_loader(_ImageList(4), batch_size=2).pin_memory == torch.cuda.is_available()
    assert uint8_loader(_ImageList(4), batch_size=2, pin_memory=True).pin_memory is True
    workers = uint8_loader(_ImageList(4), batch_size=2, num_workers=1)
    assert workers.persistent_workers is True


def test_transfer_batch_moves_nested_tensors_and_keeps_the_rest():
    batch = [{"image": torch.zeros(2, 3, 4, 4, dtype=torch.uint8), "name": ["a", "b"]}]
    moved = transfer_batch(batch, torch.device("cpu"))
    assert isinstance(moved, list)
    assert moved[0]["name"] == ["a", "b"]
    assert torch.equal(moved[0]["image"], batch[0]["image"])
