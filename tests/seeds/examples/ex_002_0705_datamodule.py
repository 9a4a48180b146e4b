# Seed 002 (002_707579571acc0c1b.txt), lines 705-705: 1 - Data: DataModule.
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 705-705
# seed-format: markdown
# Changes to the seed text: import lines renamed (stable_pretraining -> spt); nothing else.
# Stand-ins (tests/seeds/conftest.py): CIFAR-10 and the HF Hub data, DataLoader batch size <= 4,
# Trainer limited to 1 batch on the CPU in 32-bit precision, wandb disabled.
# The seed text is kept as written: no lint, no formatting.
# ruff: noqa
# fmt: off

# --- preamble: names the seed example uses without defining them ---
import lightning as pl
import torchmetrics
import torchvision
from torch import nn

import spt
from spt.data import transforms

# The augmentations of the seed's complete SimCLR example (seed 002, lines 834-856).
simclr_transform = transforms.MultiViewTransform(
    [
        transforms.Compose(
            transforms.RGB(),
            transforms.RandomResizedCrop((32, 32), scale=(0.2, 1.0)),
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.ToImage(**spt.data.static.CIFAR10),
        ),
        transforms.Compose(
            transforms.RGB(),
            transforms.RandomResizedCrop((32, 32), scale=(0.08, 1.0)),
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.ToImage(**spt.data.static.CIFAR10),
        ),
    ]
)
train_transform = transforms.Compose(
    transforms.RGB(),
    transforms.RandomResizedCrop((32, 32)),
    transforms.RandomHorizontalFlip(p=0.5),
    transforms.ToImage(**spt.data.static.CIFAR10),
)
val_transform = transforms.Compose(
    transforms.RGB(),
    transforms.Resize((32, 32)),
    transforms.ToImage(**spt.data.static.CIFAR10),
)
import torch

dataset = spt.data.FromTorchDataset(
    torchvision.datasets.CIFAR10(root="./data", train=True), names=["image", "label"], transform=val_transform
)
train_dataloader = torch.utils.data.DataLoader(dataset, batch_size=8)
val_dataloader = torch.utils.data.DataLoader(dataset, batch_size=8)

# --- seed example ---
datamodule = spt.data.DataModule(train=train_dataloader, val=val_dataloader)
# --- end of seed example ---

# --- checks: what the example claims ---
assert isinstance(datamodule, pl.LightningDataModule)
assert datamodule.train_dataloader() is train_dataloader
assert datamodule.val_dataloader() is val_dataloader
