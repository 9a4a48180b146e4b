"""The two-view SimCLR recipe for CIFAR-10, on a local stand-in of CIFAR-10.

The CPU recipe (crop, flip, colour jitter, grayscale, solarize on the second view, CIFAR-10
normalisation) builds batches of two view dicts through ``FromTorchDataset`` and
``DataModule``; the GPU recipe at the end is the same two views written with
``spt_data.gpu``, op for op and parameter for parameter.
"""

import pickle

import pytest
import torch
import torchvision
from torchvision.transforms import v2

import spt_data
from spt_data import gpu, static
from spt_data import transforms as cpu


def cifar_stand_in(train: bool) -> torchvision.datasets.FakeData:
    """32x32 RGB PIL images with labels in 0..9, like ``torchvision.datasets.CIFAR10``."""
    return torchvision.datasets.FakeData(
        size=16 if train else 8,
        image_size=(3, 32, 32),
        num_classes=10,
        random_offset=0 if train else 1000,
    )


def cpu_view(scale: tuple[float, float], solarize: bool) -> cpu.Compose:
    """One SimCLR view on PIL images; the second view adds solarization and smaller crops."""
    steps = [
        cpu.RGB(),
        cpu.RandomResizedCrop((32, 32), scale=scale),
        cpu.RandomHorizontalFlip(p=0.5),
        cpu.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p=0.8),
        cpu.RandomGrayscale(p=0.2),
    ]
    if solarize:
        steps.append(cpu.RandomSolarize(threshold=0.5, p=0.2))
    return cpu.Compose(*steps, cpu.ToImage(**static.CIFAR10))


def cpu_simclr_transform() -> cpu.MultiViewTransform:
    return cpu.MultiViewTransform(
        [cpu_view((0.2, 1.0), solarize=False), cpu_view((0.08, 1.0), solarize=True)]
    )


def cifar_datamodule() -> spt_data.DataModule:
    """Two-view training batches of 8 (shuffled, last batch dropped), one-view validation."""
    train = spt_data.FromTorchDataset(
        cifar_stand_in(train=True), names=["image", "label"], transform=cpu_simclr_transform()
    )
    val = spt_data.FromTorchDataset(
        cifar_stand_in(train=False),
        names=["image", "label"],
        transform=cpu.Compose(cpu.RGB(), cpu.Resize((32, 32)), cpu.ToImage(**static.CIFAR10)),
    )
    loader = torch.utils.data.DataLoader
    return spt_data.DataModule(
        train=loader(train, batch_size=8, num_workers=0, drop_last=True, shuffle=True),
        val=loader(val, batch_size=8, num_workers=0),
    )


def test_training_batch_is_a_list_of_two_batched_view_dicts():
    batch = next(iter(cifar_datamodule().train_dataloader()))
    assert isinstance(batch, list)
    assert len(batch) == 2
    for view in batch:
        assert set(view) == {"image", "label", "sample_idx"}
        assert view["image"].shape == (8, 3, 32, 32)
        assert view["image"].dtype == torch.float32
        assert view["label"].dtype == torch.int64
        assert view["label"].shape == (8,)
    # both views are of the same samples, in the same order, with the same labels
    assert torch.equal(batch[0]["sample_idx"], batch[1]["sample_idx"])
    assert torch.equal(batch[0]["label"], batch[1]["label"])
    assert not torch.equal(batch[0]["image"], batch[1]["image"])
    # normalised with the CIFAR-10 statistics: roughly centred, clearly not in [0, 1]
    assert batch[0]["image"].min() < -0.5


def test_validation_batch_is_one_normalised_dict():
    batch = next(iter(cifar_datamodule().val_dataloader()))
    assert isinstance(batch, dict)
    assert batch["image"].shape == (8, 3, 32, 32)
    assert batch["sample_idx"].tolist() == list(range(8))


def test_folding_the_concatenated_views_recovers_each_view():
    batch = next(iter(cifar_datamodule().train_dataloader()))
    images = torch.cat([v["image"] for v in batch])  # (2B, 3, 32, 32)
    idx = torch.cat([v["sample_idx"] for v in batch])
    folded = spt_data.fold_views(images, idx)
    assert torch.equal(folded[0], batch[0]["image"])
    assert torch.equal(folded[1], batch[1]["image"])


def test_simclr_transform_pickles_for_spawned_workers():
    restored = pickle.loads(pickle.dumps(cpu_simclr_transform()))
    sample = {"image": cifar_stand_in(train=True)[0][0], "label": 1, "sample_idx": 0}
    assert [v["image"].shape for v in restored(sample)] == [(3, 32, 32), (3, 32, 32)]


def gpu_simclr_transform():
    """The two views as GPU recipes: one GPU op per CPU op (RGB: the images already are)."""
    return gpu.MultiViewGPUTransform(
        [
            gpu.GPUCompose(
                gpu.RandomResizedCrop((32, 32), scale=(0.2, 1.0)),
                gpu.RandomHorizontalFlip(p=0.5),
                gpu.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p=0.8),
                gpu.RandomGrayscale(p=0.2),
                gpu.Normalize(**static.CIFAR10),
            ),
            gpu.GPUCompose(
                gpu.RandomResizedCrop((32, 32), scale=(0.08, 1.0)),
                gpu.RandomHorizontalFlip(p=0.5),
                gpu.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p=0.8),
                gpu.RandomGrayscale(p=0.2),
                gpu.RandomSolarize(threshold=0.5, p=0.2),
                gpu.Normalize(**static.CIFAR10),
            ),
        ]
    )


def cpu_parameters(t):
    """The parameters of one CPU op, in the terms the GPU op uses."""
    if isinstance(t, cpu.RandomResizedCrop):
        return ("crop", tuple(t.op.size), tuple(t.op.scale), tuple(t.op.ratio), t.p)
    if isinstance(t, cpu.RandomHorizontalFlip):
        return ("flip", t.p)
    if isinstance(t, cpu.ColorJitter):
        # torchvision stores an unused factor as None
        identity = {"brightness": (1.0, 1.0), "contrast": (1.0, 1.0), "saturation": (1.0, 1.0)}
        identity["hue"] = (0.0, 0.0)
        ranges = tuple(tuple(getattr(t.op, k) or v) for k, v in identity.items())
        return ("jitter", ranges, t.p)
    if isinstance(t, cpu.RandomGrayscale):
        return ("gray", t.p)
    if isinstance(t, cpu.RandomSolarize):
        return ("solarize", t.threshold, t.p)
    if isinstance(t, cpu.ToImage):
        return ("normalize", t.mean, t.std)
    raise AssertionError(f"no GPU counterpart expected for {t!r}")


def gpu_parameters(op):
    if isinstance(op, gpu.RandomResizedCrop):
        return ("crop", op.size, op.scale, op.ratio, op.p)
    if isinstance(op, gpu.RandomHorizontalFlip):
        return ("flip", op.p)
    if isinstance(op, gpu.ColorJitter):
        ranges = tuple(op.ranges[k] for k in ("brightness", "contrast", "saturation", "hue"))
        return ("jitter", ranges, op.p)
    if isinstance(op, gpu.RandomGrayscale):
        return ("gray", op.p)
    if isinstance(op, gpu.RandomSolarize):
        return ("solarize", op.threshold, op.p)
    if isinstance(op, gpu.Normalize):
        mean = tuple(round(v, 6) for v in op.mean.flatten().tolist())
        std = tuple(round(v, 6) for v in op.std.flatten().tolist())
        return ("normalize", mean, std)
    raise AssertionError(f"unexpected GPU op {op!r}")


def rounded(params):
    if isinstance(params, float):
        return round(params, 6)
    if isinstance(params, tuple):
        return tuple(rounded(p) for p in params)
    return params


@pytest.mark.parametrize("view", [0, 1])
def test_gpu_recipe_matches_the_cpu_recipe_op_for_op(view):
    cpu_ops = [
        t for t in cpu_simclr_transform().transforms[view].transforms if not isinstance(t, cpu.RGB)
    ]
    gpu_ops = list(gpu_simclr_transform().views[view].ops)
    assert [rounded(cpu_parameters(t)) for t in cpu_ops] == [
        rounded(gpu_parameters(op)) for op in gpu_ops
    ]


def test_gpu_recipe_on_a_uint8_batch_gives_the_same_batch_structure():
    stand_in = cifar_stand_in(train=True)
    # uint8 path: the CPU only decodes (PIL -> uint8 tensor); augmentation runs on the batch
    uint8 = spt_data.FromTorchDataset(
        stand_in, names=["image", "label"], transform=cpu.DictTransform(v2.PILToTensor())
    )
    batch = next(iter(gpu.uint8_loader(uint8, batch_size=8, shuffle=False)))
    views = gpu_simclr_transform()(batch)
    cpu_batch = next(iter(cifar_datamodule().train_dataloader()))
    assert len(views) == len(cpu_batch) == 2
    for ours, theirs in zip(views, cpu_batch, strict=True):
        assert set(ours) == set(theirs)
        assert ours["image"].shape == theirs["image"].shape
        assert ours["image"].dtype == theirs["image"].dtype


@pytest.mark.parametrize("view", [0, 1])
def test_from_cpu_builds_the_same_recipe_as_written_by_hand(view):
    converted = gpu.from_cpu(cpu_simclr_transform())
    assert isinstance(converted, gpu.MultiViewGPUTransform)
    by_hand = gpu_simclr_transform()
    assert [rounded(gpu_parameters(op)) for op in converted.views[view].ops] == [
        rounded(gpu_parameters(op)) for op in by_hand.views[view].ops
    ]


def test_from_cpu_converts_blur_key_and_unnormalised_to_image():
    recipe = cpu.Compose(
        cpu.GaussianBlur(kernel_size=(3, 5), sigma=(0.5, 1.5), p=0.3, key="pixels"),
        cpu.ToImage(key="pixels"),
    )
    converted = gpu.from_cpu(recipe)
    blur, to_float = converted.ops
    assert converted.key == "pixels"
    assert (blur.kernel_size, blur.sigma, blur.p) == ((3, 5), (0.5, 1.5), 0.3)
    assert isinstance(to_float, gpu.ToFloat)
    out = converted({"pixels": torch.zeros(2, 3, 8, 8, dtype=torch.uint8)})
    assert out["pixels"].dtype == torch.float32


def test_from_cpu_names_the_transform_without_a_device_op():
    with pytest.raises(ValueError, match=r"no device op for CenterCrop.*supported: Compose"):
        gpu.from_cpu(cpu.Compose(cpu.CenterCrop(8), cpu.ToImage()))
