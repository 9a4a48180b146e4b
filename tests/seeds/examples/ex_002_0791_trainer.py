# Seed 002 (002_707579571acc0c1b.txt), lines 791-800: 4 - Trainer.
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 791-800
# seed-format: markdown
# Changes to the seed text: import lines renamed (stable_pretraining -> spt); nothing else.
# Stand-ins (tests/seeds/conftest.py): CIFAR-10 and the HF Hub data, DataLoader batch size <= 4,
# Trainer limited to 1 batch on the CPU in 32-bit precision, wandb disabled.
# runs-after: 002_0712_module, 002_0759_callbacks
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

rankme = spt.callbacks.RankMe(name="rankme", input="embedding", queue_length=64, every_n_steps=1)
train_dataset = spt.data.FromTorchDataset(
    torchvision.datasets.CIFAR10(root="./data", train=True), names=["image", "label"], transform=simclr_transform
)
val_dataset = spt.data.FromTorchDataset(
    torchvision.datasets.CIFAR10(root="./data", train=False), names=["image", "label"], transform=val_transform
)
data = spt.data.DataModule(
    train=torch.utils.data.DataLoader(train_dataset, batch_size=4, shuffle=True, drop_last=True),
    val=torch.utils.data.DataLoader(val_dataset, batch_size=4),
)

# --- seed example ---
trainer = pl.Trainer(
    max_epochs=10,
    num_sanity_val_steps=1,
    callbacks=[linear_probe, knn_probe, rankme],  # Your monitoring callbacks
    precision="16-mixed",
    logger=False,
    enable_checkpointing=False,
)
manager = spt.Manager(trainer=trainer, module=module, data=data)
manager()
# --- end of seed example ---

# --- checks: what the example claims ---
assert trainer.global_step == 1, trainer.global_step
logged = set(trainer.callback_metrics)
assert {"linear_probe/val/top1", "knn_probe/val/top1"} <= logged, sorted(logged)
