"""Checkpoints hold every optimizer, scheduler and counter: resuming mid-epoch is exact."""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

from spt_module.testing import RandomDictDataset, make_module, make_trainer


class ResumableLoader(DataLoader):
    """A DataLoader that remembers how many batches of the epoch it gave (Lightning's Stateful)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.given, self.skip = 0, 0

    def __iter__(self):
        skip, self.skip = self.skip, 0
        self.given = skip
        for index, batch in enumerate(super().__iter__()):
            if index >= skip:
                self.given += 1
                yield batch

    def state_dict(self):
        return {"given": self.given}

    def load_state_dict(self, state):
        self.skip = state["given"]


OPTIM = {
    "backbone_opt": {
        "modules": "backbone",
        "optimizer": {"type": "SGD", "lr": 0.2, "momentum": 0.9},
        "scheduler": {"type": "StepLR", "step_size": 1, "gamma": 0.9},
        "interval": "step",
    },
    "head_opt": {
        "modules": "head",
        "optimizer": {"type": "Adam", "lr": 0.01},
        "scheduler": {"type": "StepLR", "step_size": 1, "gamma": 0.5},
        "interval": "epoch",
        "frequency": 2,
    },
}


def run(tmp_path, ckpt_path=None, save=False):
    torch.manual_seed(0)
    module = make_module(optim=OPTIM)
    callbacks = []
    if save:
        callbacks = [
            ModelCheckpoint(
                dirpath=tmp_path, every_n_train_steps=4, save_top_k=-1, filename="{step}"
            )
        ]
    trainer = make_trainer(
        max_epochs=2,
        accumulate_grad_batches=2,
        callbacks=callbacks,
        enable_checkpointing=save,
    )
    loader = ResumableLoader(RandomDictDataset(n=40), batch_size=4)
    trainer.fit(module, loader, ckpt_path=ckpt_path)
    return module


def test_resuming_mid_epoch_gives_the_uninterrupted_parameters(tmp_path):
    full = run(tmp_path, save=True)
    checkpoints = sorted(tmp_path.glob("step=*.ckpt"))
    # 10 batches an epoch, 5 accumulated steps: backbone 5 + head 2 optimizer steps.
    assert [c.name for c in checkpoints][:2] == ["step=4.ckpt", "step=8.ckpt"]
    state = torch.load(checkpoints[0], weights_only=False)
    assert len(state["optimizer_states"]) == 2
    assert len(state["lr_schedulers"]) == 2
    assert state["spt_module"]["counters"]["optimizer_steps"] == {"backbone_opt": 3, "head_opt": 1}
    for checkpoint in checkpoints[:2]:
        resumed = run(tmp_path, ckpt_path=checkpoint)
        for (name, p), q in zip(full.named_parameters(), resumed.parameters(), strict=True):
            torch.testing.assert_close(p, q, atol=0, rtol=0, msg=f"{checkpoint.name}: {name}")
        for a, b in zip(full.optimizer_entries, resumed.optimizer_entries, strict=True):
            assert a.scheduler.last_epoch == b.scheduler.last_epoch
            assert a.optimizer.param_groups[0]["lr"] == b.optimizer.param_groups[0]["lr"]
        assert resumed._counters.state_dict() == full._counters.state_dict()
