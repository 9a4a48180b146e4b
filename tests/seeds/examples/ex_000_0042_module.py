# Seed 000 (000_01a0b07e21b307ce.txt), lines 42-47: Module Creation.
# seed-file: 000_01a0b07e21b307ce.txt
# seed-lines: 42-47
# seed-format: rst
# Changes to the seed text: import lines renamed (stable_pretraining -> spt); nothing else.
# Stand-ins (tests/seeds/conftest.py): CIFAR-10 and the HF Hub data, DataLoader batch size <= 4,
# Trainer limited to 1 batch on the CPU in 32-bit precision, wandb disabled.
# runs-after: 000_0026_forward
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
module = spt.Module(
    backbone=backbone,           # Your model components
    projector=projector,         # Any kwargs become self.attributes
    forward=forward,            # Your forward function
    simclr_loss=spt.losses.NTXEntLoss(temperature=0.1),
)
# --- end of seed example ---

# --- checks: what the example claims ---
# The seed's forward on a batch that holds each sample twice (RepeatedRandomSampler).
batch = {"image": torch.randn(4, 3, 32, 32), "sample_idx": torch.arange(2).repeat(2)}
out = module.train()(batch, "fit")
assert out["embedding"].shape == (4, 512) and torch.isfinite(out["loss"])
out["loss"].backward()
assert module.projector[0].weight.grad is not None
