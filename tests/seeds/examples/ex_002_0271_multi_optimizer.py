# Seed 002 (002_707579571acc0c1b.txt), lines 271-288: Advanced: Multi-Optimizer with Regex.
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 271-288
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
    simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
    optim={
        "backbone_opt": {
            "modules": "backbone.*",  # Regex pattern!
            "optimizer": {"type": "SGD", "lr": 0.01},  # Lower LR for backbone
            "scheduler": {"type": "StepLR", "step_size": 30}
        },
        "projector_opt": {
            "modules": "projector.*",  # Different pattern
            "optimizer": {"type": "Adam", "lr": 0.1},  # Higher LR for projector
            "scheduler": {"type": "CosineAnnealingLR"}
        }
    }
)
# --- end of seed example ---

# --- checks: what the example claims ---
length = spt.optim.TrainingLength(max_epochs=10, batches_per_epoch=10)
entries = {e.name: e for e in spt.optim.build_optimizers(module, module.optim, length)}
assert set(entries) == {"backbone_opt", "projector_opt"}
assert len(entries["backbone_opt"].parameter_names) == len(list(backbone.parameters()))
assert all(n.startswith("projector.") for n in entries["projector_opt"].parameter_names)
assert type(entries["backbone_opt"].optimizer).__name__ == "SGD"
