# Seed 000 (000_01a0b07e21b307ce.txt), lines 26-36: Required Implementation: forward(self, batch, stage).
# seed-file: 000_01a0b07e21b307ce.txt
# seed-lines: 26-36
# seed-format: rst
# Changes to the seed text: import lines renamed (stable_pretraining -> spt); nothing else.
# Stand-ins (tests/seeds/conftest.py): CIFAR-10 and the HF Hub data, DataLoader batch size <= 4,
# Trainer limited to 1 batch on the CPU in 32-bit precision, wandb disabled.
# The seed text is kept as written: no lint, no formatting.
# ruff: noqa
# fmt: off

# --- preamble: names the seed example uses without defining them ---
import spt

# --- seed example ---
def forward(self, batch, stage):
    # Your custom logic here
    batch["embedding"] = self.backbone(batch["image"])

    if self.training:
        # Training-specific logic
        proj = self.projector(batch["embedding"])
        views = spt.data.fold_views(proj, batch["sample_idx"])
        batch["loss"] = self.simclr_loss(views[0], views[1])

    return batch
# --- end of seed example ---

# --- checks: what the example claims ---
assert callable(forward)
