# Seed 002 (002_707579571acc0c1b.txt), lines 695-699: 1 - Data: From PyTorch datasets.
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 695-699
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
torchvision_dataset = torchvision.datasets.CIFAR10(root="./data", train=True)

# --- seed example ---
train_dataset = spt.data.FromTorchDataset(
    torchvision_dataset,
    names=["image", "label"],  # Map tuple outputs to dictionary keys
    transform=train_transform,
)
# --- end of seed example ---

# --- checks: what the example claims ---
sample = train_dataset[3]
assert set(sample) >= {"image", "label", "sample_idx"} and sample["sample_idx"] == 3
assert sample["image"].shape == (3, 32, 32)
