# Seed 002 (002_707579571acc0c1b.txt), lines 154-172: The Parameter Handling Problem (SPT column).
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 154-172
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
# SPT handles everything automatically
module = spt.Module(
    backbone=backbone,
    projector=projector,
    optim={
        "optimizer": {"type": "LARS", "lr": 0.1},
        "scheduler": {"type": "CosineAnnealingLR"}
    }
)

# OnlineProbe gets its own optimizer automatically
linear_probe = spt.callbacks.OnlineProbe(
    module,
    name="linear_probe",
    probe=nn.Linear(512, 10),
    optimizer={"type": "Adam", "lr": 1e-3}
    # Probe params automatically excluded
    # from main optimizer!
)
# --- end of seed example ---

# --- checks: what the example claims ---
length = spt.optim.TrainingLength(max_epochs=10, batches_per_epoch=10)
entries = spt.optim.build_optimizers(module, module.optim, length)
routed = {id(p) for e in entries for g in e.optimizer.param_groups for p in g["params"]}
probe_params = list(linear_probe.probe.parameters())
assert probe_params and not any(id(p) in routed for p in probe_params)
assert type(entries[0].optimizer).__name__ == "LARS"
