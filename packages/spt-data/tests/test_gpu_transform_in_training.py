"""A GPU recipe carried by the dataset or the DataModule reaches the forward as views.

Runs a real Trainer with ``spt_module.Module`` (skipped when spt-module is not installed, so
spt-data's tests still run alone): the DataLoader yields uint8 batches, the Module applies the
resolved ``gpu_transform`` after the (CPU) transfer, and the forward sees two float views.
"""

import pytest
import torch
from torch import nn
from torchvision import tv_tensors

from spt_data import DataModule, DictDataset, gpu, static

spt_module = pytest.importorskip("spt_module")
testing = pytest.importorskip("spt_module.testing")


def uint8_images(n=16):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 12, 12), dtype=torch.uint8, generator=g)
    return {"image": tv_tensors.Image(images), "label": [i % 2 for i in range(n)]}


def two_views():
    def recipe(scale):
        return gpu.GPUCompose(
            gpu.RandomResizedCrop((8, 8), scale=scale),
            gpu.RandomHorizontalFlip(p=0.5),
            gpu.ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8),
            gpu.Normalize(**static.CIFAR10),
        )

    return gpu.MultiViewGPUTransform([recipe((0.2, 1.0)), recipe((0.08, 1.0))])


def views_forward(self, batch, stage):
    if stage == "fit":
        self.seen.append(batch)
        z = [self.backbone(v["image"].flatten(1)) for v in batch]
        return {"loss": (z[0] - z[1]).pow(2).mean()}
    self.seen_val.append(batch)
    return {"embedding": self.backbone(batch["image"].flatten(1))}


def fit(data):
    module = spt_module.Module(
        forward=views_forward,
        backbone=nn.Linear(3 * 8 * 8, 4),
        optim={"optimizer": {"type": "SGD", "lr": 0.01}, "scheduler": None},
    )
    module.seen, module.seen_val = [], []
    testing.make_trainer(max_epochs=1, num_sanity_val_steps=0).fit(module, datamodule=data)
    return module


def check_views(batches, n_batches):
    assert len(batches) == n_batches
    for batch in batches:
        assert isinstance(batch, list)
        assert len(batch) == 2
        for view in batch:
            assert view["image"].dtype == torch.float32
            assert view["image"].shape == (8, 3, 8, 8)
        assert torch.equal(batch[0]["sample_idx"], batch[1]["sample_idx"])
        assert not torch.equal(batch[0]["image"], batch[1]["image"])


def test_dataset_gpu_transform_makes_the_training_views():
    train = DictDataset(uint8_images(), gpu_transform=two_views())
    module = fit(DataModule(train=gpu.uint8_loader(train, batch_size=8, shuffle=False)))
    check_views(module.seen, 2)


def test_datamodule_per_stage_gpu_transform_applies_to_its_stage_only():
    train, val = DictDataset(uint8_images()), DictDataset(uint8_images(8))
    resize = gpu.GPUCompose(
        gpu.RandomResizedCrop(8, scale=(1.0, 1.0)), gpu.Normalize([0.5] * 3, [0.5] * 3)
    )
    data = DataModule(
        train=gpu.uint8_loader(train, batch_size=8, shuffle=False),
        val=gpu.uint8_loader(val, batch_size=8, shuffle=False),
        gpu_transform={"train": two_views(), "val": resize},
    )
    module = fit(data)
    check_views(module.seen, 2)
    (val_batch,) = module.seen_val
    assert isinstance(val_batch, dict)
    assert val_batch["image"].shape == (8, 3, 8, 8)
    assert val_batch["image"].dtype == torch.float32
