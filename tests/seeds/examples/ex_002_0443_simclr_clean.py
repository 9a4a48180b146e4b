# Seed 002 (002_707579571acc0c1b.txt), lines 443-521: Complete SimCLR Comparison: stable-pretraining (the clean way).
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 443-521
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
    transform=simclr_transform,  # MultiViewTransform for two views
)
val_dataset = spt.data.FromTorchDataset(
    torchvision.datasets.CIFAR10(root="./data", train=False),
    names=["image", "label"],
    transform=val_transform,
)

train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=256, shuffle=True)
val_loader = torch.utils.data.DataLoader(val_dataset, batch_size=256)
data = spt.data.DataModule(train=train_loader, val=val_loader)

# Model components
backbone = spt.backbone.from_torchvision("resnet18", low_resolution=True)
backbone.fc = nn.Identity()

projector = nn.Sequential(
    nn.Linear(512, 2048),
    nn.BatchNorm1d(2048),
    nn.ReLU(inplace=True),
    nn.Linear(2048, 256),
)

# Create module - no LightningModule class needed!
module = spt.Module(
    backbone=backbone,
    projector=projector,
    forward=forward.simclr_forward,  # Built-in, handles train/val automatically
    simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),  # Built-in loss
    optim={
        "optimizer": {"type": "LARS", "lr": 0.1, "weight_decay": 1e-6},
        "scheduler": {"type": "CosineAnnealingLR"},
        "interval": "epoch",
    },
)

# Add online evaluation - built-in callbacks!
linear_probe = spt.callbacks.OnlineProbe(
    module,
    name="linear_probe",
    input="embedding",
    target="label",
    probe=nn.Linear(512, 10),
    loss_fn=nn.CrossEntropyLoss(),
    metrics={
        "top1": torchmetrics.classification.MulticlassAccuracy(10),
        "top5": torchmetrics.classification.MulticlassAccuracy(10, top_k=5),
    },
)

knn_probe = spt.callbacks.OnlineKNN(
    name="knn_probe",
    input="embedding",
    target="label",
    queue_length=20000,
    metrics={"accuracy": torchmetrics.classification.MulticlassAccuracy(10)},
    input_dim=512,
    k=10,
)

# Train
trainer = pl.Trainer(
    max_epochs=100,
    accelerator="gpu",
    devices=1,
    callbacks=[linear_probe, knn_probe],
)

manager = spt.Manager(trainer=trainer, module=module, data=data)
manager()
# --- end of seed example ---

# --- checks: what the example claims ---
assert trainer.global_step == 1, trainer.global_step
logged = set(trainer.callback_metrics)
assert {"linear_probe/val/top1", "knn_probe/val/accuracy"} <= logged, sorted(logged)
