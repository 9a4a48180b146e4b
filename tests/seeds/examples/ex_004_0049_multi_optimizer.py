# Seed 004 (004_db86c79bcd851d5e.txt), lines 49-49: Module.configure_optimizers: multi-optimizer with custom scheduler configs.
# seed-file: 004_db86c79bcd851d5e.txt
# seed-lines: 49-49
# seed-format: doctest
# Changes to the seed text: import lines renamed (stable_pretraining -> spt); the '>>>'/'...' prompts removed and the lines re-flowed (the doc page is flattened to one line); nothing else.
# Stand-ins (tests/seeds/conftest.py): CIFAR-10 and the HF Hub data, DataLoader batch size <= 4,
# Trainer limited to 1 batch on the CPU in 32-bit precision, wandb disabled.
# The seed text is kept as written: no lint, no formatting.
# ruff: noqa
# fmt: off

# --- preamble: names the seed example uses without defining them ---
import warnings

import torch
from spt_module.testing import make_dataloader, make_trainer
from torch import nn

import spt


def forward(self, batch, stage):
    logits = self.classifier_head(self.encoder(batch["x"]))
    if stage == "validate":  # the metric that the ReduceLROnPlateau below monitors
        self.log("val_accuracy", (logits.argmax(1) == batch["label"]).float().mean())
    return {"loss": nn.functional.cross_entropy(logits, batch["label"]), "logits": logits, "label": batch["label"]}


# The doc's model structure: encoder (with layer1.conv), classifier_head (linear), decoder.
encoder = nn.Sequential()
encoder.add_module("layer1", nn.Sequential())
encoder.layer1.add_module("conv", nn.Linear(8, 16))
classifier_head = nn.Sequential()
classifier_head.add_module("linear", nn.Linear(16, 3))
self = spt.Module(forward=forward, encoder=encoder, classifier_head=classifier_head, decoder=nn.Linear(16, 8))

# --- seed example ---
# Multi-optimizer with custom scheduler configs
self.optim = {
    "encoder_opt": {
        "modules": "encoder",  # Matches 'encoder' and all children
        "optimizer": {"type": "AdamW", "lr": 1e-3},
        "scheduler": {
            "type": "OneCycleLR",
            "max_lr": 1e-3,
            "total_steps": 10000,
        },
        "interval": "step",
        "frequency": 1,
    },
    "head_opt": {
        "modules": ".*head$",  # Matches modules ending with 'head'
        "optimizer": "SGD",
        "scheduler": {
            "type": "ReduceLROnPlateau",
            "mode": "max",
            "patience": 5,
            "factor": 0.5,
        },
        "monitor": "val_accuracy",  # Required for ReduceLROnPlateau
        "interval": "epoch",
        "frequency": 2,
    },
}
# --- end of seed example ---

# --- checks: what the example claims ---
head_before = self.classifier_head.linear.weight.detach().clone()
encoder_before = self.encoder.layer1.conv.weight.detach().clone()
trainer = make_trainer()  # 1 training batch (tests/seeds/conftest.py)
with warnings.catch_warnings(record=True):  # the decoder matches no route (a warning)
    warnings.simplefilter("always")
    trainer.fit(self, make_dataloader(n=32, batch_size=8), make_dataloader(n=8, batch_size=8, seed=1))
entries = {e.name: e for e in self.optimizer_entries}
assert set(entries) == {"encoder_opt", "head_opt"}
assert entries["encoder_opt"].parameter_names == ["encoder.layer1.conv.weight", "encoder.layer1.conv.bias"]
assert sorted(entries["head_opt"].parameter_names) == ["classifier_head.linear.bias", "classifier_head.linear.weight"]
assert entries["encoder_opt"].scheduler.last_epoch == 1  # OneCycleLR steps per optimizer step
assert not torch.equal(self.encoder.layer1.conv.weight, encoder_before)
assert torch.equal(self.classifier_head.linear.weight, head_before)  # frequency 2: no step after 1 batch
assert isinstance(entries["head_opt"].optimizer, torch.optim.SGD)
assert entries["head_opt"].scheduler.last_epoch == 1  # epoch interval: stepped on val_accuracy once
assert self.decoder.weight.grad is None  # decoder: no match, no optimizer
