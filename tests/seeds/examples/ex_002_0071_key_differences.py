# Seed 002 (002_707579571acc0c1b.txt), lines 71-87: Key Differences (stable-pretraining column).
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 71-87
# seed-format: markdown
# Changes to the seed text: import lines renamed (stable_pretraining -> spt); nothing else.
# Stand-ins (tests/seeds/conftest.py): CIFAR-10 and the HF Hub data, DataLoader batch size <= 4,
# Trainer limited to 1 batch on the CPU in 32-bit precision, wandb disabled.
# The seed text is kept as written: no lint, no formatting.
# ruff: noqa
# fmt: off

# --- preamble: names the seed example uses without defining them ---
import torch
from torch import nn

import spt
from spt import forward

backbone = spt.backbone.from_torchvision("resnet18", low_resolution=True)
backbone.fc = nn.Identity()
projector = nn.Sequential(nn.Linear(512, 2048), nn.BatchNorm1d(2048), nn.ReLU(), nn.Linear(2048, 256))

# --- seed example ---
module = spt.Module(
    backbone=backbone,
    projector=projector,
    forward=forward.simclr_forward,
    simclr_loss=spt.losses.NTXEntLoss(
        temperature=0.5
    ),
    optim={
        "optimizer": {
            "type": "LARS",
            "lr": 0.1
        },
        "scheduler": {
            "type": "CosineAnnealingLR"
        }
    }
)
# --- end of seed example ---

# --- checks: what the example claims ---
length = spt.optim.TrainingLength(max_epochs=10, batches_per_epoch=10)
entries = spt.optim.build_optimizers(module, module.optim, length)
assert type(entries[0].optimizer).__name__ == "LARS"
assert type(entries[0].scheduler).__name__ == "CosineAnnealingLR"
