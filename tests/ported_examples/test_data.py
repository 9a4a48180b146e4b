"""Dict datasets from torchvision and the Hub, and the DataModule that serves them."""

from __future__ import annotations

import lightning as pl
import pytest
import torch

import spt


def test_from_torch_dataset_names_the_fields_of_each_tuple(cifar10, cifar_transforms, workdir):
    dataset = spt.data.FromTorchDataset(
        cifar10(root="./data", train=True),
        names=["image", "label"],
        transform=cifar_transforms.train,
    )
    sample = dataset[3]
    assert set(sample) >= {"image", "label", "sample_idx"}
    assert sample["sample_idx"] == 3
    assert sample["image"].shape == (3, 32, 32)


@pytest.mark.usefixtures("offline_hub", "workdir")
def test_hf_dataset_loads_a_split_by_path_and_name(cifar_transforms):
    dataset = spt.data.HFDataset(
        path="frgfm/imagenette", name="160px", split="train", transform=cifar_transforms.train
    )
    sample = dataset[0]
    assert sample["image"].shape == (3, 32, 32)
    assert 0 <= int(sample["label"]) < 10
    assert len(dataset) == 16


def test_datamodule_serves_the_loaders_it_was_given(cifar10, cifar_transforms, workdir):
    dataset = spt.data.FromTorchDataset(
        cifar10(root="./data", train=True), names=["image", "label"], transform=cifar_transforms.val
    )
    train_loader = torch.utils.data.DataLoader(dataset, batch_size=8)
    val_loader = torch.utils.data.DataLoader(dataset, batch_size=8)
    datamodule = spt.data.DataModule(train=train_loader, val=val_loader)
    assert isinstance(datamodule, pl.LightningDataModule)
    assert datamodule.train_dataloader() is train_loader
    assert datamodule.val_dataloader() is val_loader


def test_a_multi_view_transform_gives_two_views_of_each_sample(cifar10, cifar_transforms, workdir):
    dataset = spt.data.FromTorchDataset(
        cifar10(train=True), names=["image", "label"], transform=cifar_transforms.simclr
    )
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert len(batch) == 2
    assert torch.equal(batch[0]["sample_idx"], batch[1]["sample_idx"])
    assert batch[0]["image"].shape == batch[1]["image"].shape == (4, 3, 32, 32)
