# Seed 002 (002_707579571acc0c1b.txt), lines 731-746: 2 - Module: your own custom forward.
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 731-746
# seed-format: markdown
# Changes to the seed text: import lines renamed (stable_pretraining -> spt); nothing else.
# Stand-ins (tests/seeds/conftest.py): CIFAR-10 and the HF Hub data, DataLoader batch size <= 4,
# Trainer limited to 1 batch on the CPU in 32-bit precision, wandb disabled.
# The seed text is kept as written: no lint, no formatting.
# ruff: noqa
# fmt: off

# --- preamble: names the seed example uses without defining them ---
import torch

# --- seed example ---
def forward(self, batch, stage):
    out = {}

    if isinstance(batch, list):
        # Multi-view training - batch is a list of view dicts
        embeddings = [self.backbone(view["image"]) for view in batch]
        out["embedding"] = torch.cat(embeddings, dim=0)

        if self.training:
            projections = [self.projector(emb) for emb in embeddings]
            out["loss"] = self.simclr_loss(projections[0], projections[1])
    else:
        # Single-view validation
        out["embedding"] = self.backbone(batch["image"])

    return out
# --- end of seed example ---

# --- checks: what the example claims ---
import spt
from torch import nn

module = spt.Module(
    backbone=nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 512)),
    projector=nn.Linear(512, 128),
    forward=forward,
    simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
)
views = [{"image": torch.randn(4, 3, 32, 32)}, {"image": torch.randn(4, 3, 32, 32)}]
out = module.train()(views, "fit")
assert out["embedding"].shape == (8, 512) and torch.isfinite(out["loss"])
out = module.eval()({"image": torch.randn(4, 3, 32, 32)}, "validate")
assert out["embedding"].shape == (4, 512) and "loss" not in out
