# Seed 002 (002_707579571acc0c1b.txt), lines 684-690: 1 - Data: HuggingFace datasets.
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 684-690
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

# --- seed example ---
import spt
train_dataset = spt.data.HFDataset(
    path="frgfm/imagenette",
    name="160px",
    split="train",
    transform=train_transform,
)
# --- end of seed example ---

# --- checks: what the example claims ---
sample = train_dataset[0]
assert sample["image"].shape == (3, 32, 32) and 0 <= int(sample["label"]) < 10
assert len(train_dataset) == 16
