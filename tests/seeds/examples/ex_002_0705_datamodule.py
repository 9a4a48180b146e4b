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

from cifar_transforms import simclr_transform, train_transform, val_transform
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
