# Seed 004 (004_db86c79bcd851d5e.txt), lines 48-48: Module.configure_optimizers: simple single optimizer with scheduler.
# seed-file: 004_db86c79bcd851d5e.txt
# seed-lines: 48-48
# seed-format: doctest
# Changes to the seed text: import lines renamed (stable_pretraining -> spt); the '>>>'/'...' prompts removed and the lines re-flowed (the doc page is flattened to one line); nothing else.
# Stand-ins (tests/seeds/conftest.py): CIFAR-10 and the HF Hub data, DataLoader batch size <= 4,
# Trainer limited to 1 batch on the CPU in 32-bit precision, wandb disabled.
# The seed text is kept as written: no lint, no formatting.
# ruff: noqa
# fmt: off

# --- preamble: names the seed example uses without defining them ---
from functools import partial

import torch
from spt_module.testing import make_dataloader, make_module, make_trainer

self = make_module()  # the doc sets self.optim inside a Module; here on a tiny one

# --- seed example ---
# Simple single optimizer with scheduler
self.optim = {
    "optimizer": partial(torch.optim.AdamW, lr=1e-3),
    "scheduler": "CosineAnnealingLR",  # Uses smart defaults
    "interval": "step",
    "frequency": 1,
}
# --- end of seed example ---

# --- checks: what the example claims ---
trainer = make_trainer()
trainer.fit(self, make_dataloader(n=32, batch_size=8))
(entry,) = self.optimizer_entries
assert isinstance(entry.optimizer, torch.optim.AdamW)
assert isinstance(entry.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)
assert entry.scheduler.last_epoch == 1  # stepped after the optimizer step (1 batch)
