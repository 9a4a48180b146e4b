# Seed 002 (002_707579571acc0c1b.txt), lines 190-261: See The Difference (the '+' lines of the diff).
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 190-261
# seed-format: diff
# Changes to the seed text: import lines renamed (stable_pretraining -> spt); the '+' markers of the diff removed; nothing else.
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
import torchmetrics

# --- seed example ---
# Just define components
module = spt.Module(
    backbone=backbone,
    projector=projector,
    forward=forward.simclr_forward,  # Handles train/val automatically
    simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
    optim={  # Declarative config
        "optimizer": {"type": "LARS", "lr": 0.1, "weight_decay": 1e-6},
        "scheduler": {"type": "CosineAnnealingLR"}
    }
)

# OnlineProbe handles everything automatically
linear_probe = spt.callbacks.OnlineProbe(
    module,
    name="linear_probe",
    input="embedding",
    target="label",
    probe=nn.Linear(512, 10),
    loss_fn=nn.CrossEntropyLoss(),
    optimizer={"type": "Adam", "lr": 1e-3},  # Separate optimizer config
    metrics={
        "top1": torchmetrics.classification.MulticlassAccuracy(10),
    }
)
# Probe params auto-excluded from main optimizer
# Train/val logic handled automatically
# Metrics tracked automatically
# Logging handled automatically
# --- end of seed example ---

# --- checks: what the example claims ---
length = spt.optim.TrainingLength(max_epochs=10, batches_per_epoch=10)
entries = spt.optim.build_optimizers(module, module.optim, length)
routed = {id(p) for e in entries for g in e.optimizer.param_groups for p in g["params"]}
probe_params = list(linear_probe.probe.parameters())
assert probe_params and not any(id(p) in routed for p in probe_params)
assert type(entries[0].optimizer).__name__ == "LARS"
