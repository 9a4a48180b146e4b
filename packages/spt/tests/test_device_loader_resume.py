"""The Manager resumes a run fed by a DeviceLoader at the batch it stopped, in the same order.

The Manager serves the train loader through ``spt._resume.ResumableLoader``; with a
DeviceLoader inside, the order of the interrupted epoch comes back from its seed and the
epoch Lightning sets through ``loader.sampler.set_epoch``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as pl
import pytest
import torch
from torch import nn

import spt
from spt_module.testing import RandomDictDataset, make_trainer


class CrashAt(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("simulated crash")


def recording_forward(self: Any, batch: dict[str, Any], stage: str) -> dict[str, Any]:
    self.seen.append(batch["sample_idx"].tolist())
    logits = self.head(self.backbone(batch["x"]))
    return {"loss": nn.functional.cross_entropy(logits, batch["label"])}


def _run(run_dir: Path, crash_at: int | None = None) -> spt.Module:
    torch.manual_seed(0)
    module = spt.Module(
        forward=recording_forward,
        backbone=nn.Sequential(nn.Linear(8, 16), nn.ReLU()),
        head=nn.Linear(16, 3),
        optim={"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}, "scheduler": None},
    )
    module.seen = []
    rows = RandomDictDataset(n=40)
    loader = spt.data.DeviceLoader({"x": rows.x, "label": rows.label}, batch_size=8, seed=4)
    callbacks = [] if crash_at is None else [CrashAt(crash_at)]
    manager = spt.Manager(
        trainer=make_trainer(max_epochs=2, callbacks=callbacks),
        module=module,
        data=spt.data.DataModule(train=loader),
        seed=0,
        run_dir=run_dir,
        ckpt_every_n_steps=3,
    )
    manager()
    return module


def test_manager_resumes_a_device_loader_mid_epoch(tmp_path: Path) -> None:
    straight = _run(tmp_path / "straight")
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(tmp_path / "crashed", crash_at=8)  # last checkpoint: step 6, batch 2 of epoch 1
    resumed = _run(tmp_path / "crashed")
    assert len(straight.seen) == 10
    assert resumed.seen == straight.seen[6:]
    for (name, p), q in zip(straight.named_parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(q, p, rtol=0, atol=0, msg=name)
