# Seed 002 (002_707579571acc0c1b.txt), lines 612-656: Complete Supervised Learning Comparison: stable-pretraining (the clean way).
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 612-656
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
from spt import forward
import torch
from torch import nn

# Data
train_dataset = spt.data.FromTorchDataset(
    torchvision.datasets.CIFAR10(root="./data", train=True),
    names=["image", "label"],
    transform=train_transform,
)
val_dataset = spt.data.FromTorchDataset(
    torchvision.datasets.CIFAR10(root="./data", train=False),
    names=["image", "label"],
    transform=val_transform,
)

train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=128, shuffle=True)
val_loader = torch.utils.data.DataLoader(val_dataset, batch_size=128)
data = spt.data.DataModule(train=train_loader, val=val_loader)

# Model
backbone = spt.backbone.from_torchvision("resnet18", low_resolution=True)
backbone.fc = nn.Linear(512, 10)

# Create module with automatic metric tracking
module = spt.Module(
    backbone=backbone,
    forward=forward.supervised_forward,  # Built-in supervised forward
    supervised_loss=nn.CrossEntropyLoss(),
    optim={
        "optimizer": {"type": "AdamW", "lr": 1e-3, "weight_decay": 0.01},
        "scheduler": {"type": "CosineAnnealingLR"},
        "interval": "epoch",
    },
    metrics={  # Automatic train/val split and logging!
        "top1": torchmetrics.classification.MulticlassAccuracy(10),
        "top5": torchmetrics.classification.MulticlassAccuracy(10, top_k=5),
    },
)

# Train
trainer = pl.Trainer(max_epochs=100, accelerator="gpu", devices=1)
manager = spt.Manager(trainer=trainer, module=module, data=data)
manager()
# --- end of seed example ---

# --- checks: what the example claims ---
assert trainer.global_step == 1, trainer.global_step
logged = set(trainer.callback_metrics)
assert {"val/top1", "val/top5"} <= logged, sorted(logged)
