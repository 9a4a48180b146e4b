# Seed 002 (002_707579571acc0c1b.txt), lines 712-726: 2 - Module: pre-built forward functions.
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 712-726
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

backbone = spt.backbone.from_torchvision("resnet18", low_resolution=True)
backbone.fc = nn.Identity()
projector = nn.Sequential(nn.Linear(512, 2048), nn.BatchNorm1d(2048), nn.ReLU(), nn.Linear(2048, 256))

# --- seed example ---
# Use the pre-built forward functions from stable_pretraining
from spt import forward

# Simply use the appropriate forward for your method
module = spt.Module(
    backbone=backbone,
    projector=projector,
    forward=forward.simclr_forward,  # Or byol_forward, vicreg_forward, etc.
    simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
    optim={
        "optimizer": {"type": "Adam", "lr": 0.001},
        "scheduler": {"type": "CosineAnnealingLR"},
        "interval": "epoch"
    }
)
# --- end of seed example ---

# --- checks: what the example claims ---
assert module.optim["interval"] == "epoch"
out = module.train()([{"image": torch.randn(4, 3, 32, 32)}, {"image": torch.randn(4, 3, 32, 32)}], "fit")
assert torch.isfinite(out["loss"])
