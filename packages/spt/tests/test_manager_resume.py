"""The Manager resumes from its checkpoint exactly as if the run had never stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import spt
import spt_optim
from spt.ema import TeacherStudent
from spt_module.testing import RandomDictDataset, classification_forward, make_trainer


class NoisyDataset(Dataset[dict[str, Any]]):
    """RandomDictDataset plus noise drawn from the global RNG in the loading process."""

    def __init__(self, n: int) -> None:
        self.inner = RandomDictDataset(n=n)

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = dict(self.inner[index])
        sample["x"] = sample["x"] + 0.1 * torch.randn_like(sample["x"])
        return sample


class CrashAt(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("simulated crash")


def _ema_forward(self: Any, batch: dict[str, Any], stage: str) -> dict[str, Any]:
    out = classification_forward(self, batch, stage)
    out["loss"] = out["loss"] + 0.0 * self.teacher(batch["x"]).sum()
    return out


def _run(run_dir: Path, crash_at: int | None = None, every: int = 4) -> pl.Trainer:
    torch.manual_seed(0)
    module = spt.Module(
        backbone=nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.3), nn.ReLU()),
        head=nn.Linear(16, 3),
        teacher=TeacherStudent(nn.Linear(8, 2)),
        forward=_ema_forward,
        optim={
            "optimizer": {"type": "AdamW", "lr": 1e-2},
            "scheduler": {"type": "CosineAnnealingLR"},
        },
    )
    train = DataLoader(NoisyDataset(40), batch_size=8, shuffle=True)  # 5 steps per epoch
    val = DataLoader(RandomDictDataset(n=16, seed=1), batch_size=8)
    probe = spt.callbacks.OnlineProbe(
        module, name="probe", input="embedding", target="label", probe=nn.Linear(16, 3)
    )
    callbacks: list[pl.Callback] = [probe, spt.callbacks.TeacherStudentCallback()]
    if crash_at is not None:
        callbacks.append(CrashAt(crash_at))
    trainer = make_trainer(max_epochs=3, callbacks=callbacks)
    manager = spt.Manager(
        trainer=trainer,
        module=module,
        data=spt.data.DataModule(train=train, val=val),
        seed=0,
        run_dir=run_dir,
        ckpt_every_n_steps=every,
    )
    manager()
    return trainer


def _assert_equal(a: Any, b: Any, where: str = "checkpoint") -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_equal(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    run_dir = tmp_path_factory.mktemp("straight")
    _run(run_dir)
    return torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)


@pytest.mark.parametrize(
    ("every", "crash_at"),
    [(4, 6), (5, 7)],
    ids=["mid-epoch", "end-of-epoch"],  # checkpoints at step 4 (batch 4 of 5) and step 5 (last)
)
def test_resume_equals_uninterrupted_run(
    tmp_path: Path, straight_run: dict[str, Any], every: int, crash_at: int
) -> None:
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(tmp_path, crash_at=crash_at, every=every)
    saved = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)
    assert saved["global_step"] == every * (crash_at // every)
    resumed = _run(tmp_path, every=every)
    assert resumed.global_step == 15
    b = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "global_step", "epoch"):
        _assert_equal(straight_run[key], b[key], key)
    callbacks = {k: v for k, v in b["callbacks"].items() if not k.startswith("RunCheckpoint")}
    expected = {
        k: v for k, v in straight_run["callbacks"].items() if not k.startswith("RunCheckpoint")
    }
    _assert_equal(expected, callbacks, "callbacks")


class PlainLightningModule(pl.LightningModule):
    """Automatic optimization, one optimizer from ``spt_optim.configure_optimizers``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 3))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return nn.functional.cross_entropy(self.net(batch["x"]), batch["label"])

    def configure_optimizers(self) -> Any:
        return spt_optim.configure_optimizers(
            self,
            {
                "optimizer": {"type": "AdamW", "lr": 1e-2},
                "scheduler": {"type": "CosineAnnealingLR"},
            },
        )


def _run_plain(run_dir: Path, crash_at: int | None = None) -> pl.Trainer:
    torch.manual_seed(0)
    module = PlainLightningModule()
    train = DataLoader(NoisyDataset(40), batch_size=8, shuffle=True)  # 5 steps per epoch
    callbacks: list[pl.Callback] = [] if crash_at is None else [CrashAt(crash_at)]
    trainer = make_trainer(max_epochs=3, callbacks=callbacks)
    manager = spt.Manager(
        trainer=trainer,
        module=module,
        data=spt.data.DataModule(train=train),
        seed=0,
        run_dir=run_dir,
        ckpt_every_n_steps=4,
        save_backbone=False,
    )
    manager()
    return trainer


def test_plain_lightning_module_resumes_mid_epoch_exactly(tmp_path: Path) -> None:
    # The train loader is built for the cosine schedule's length before Lightning restores
    # the checkpoint; spt_optim has Lightning build it again so it gets its position back.
    straight_dir, crashed_dir = tmp_path / "straight", tmp_path / "crashed"
    _run_plain(straight_dir)
    straight = torch.load(straight_dir / "checkpoints/last.ckpt", weights_only=True)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run_plain(crashed_dir, crash_at=6)
    saved = torch.load(crashed_dir / "checkpoints/last.ckpt", weights_only=True)
    assert saved["global_step"] == 4  # batch 4 of 5: in the middle of the first epoch
    resumed = _run_plain(crashed_dir)
    assert resumed.global_step == 15
    b = torch.load(crashed_dir / "checkpoints/last.ckpt", weights_only=True)
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "global_step", "epoch"):
        _assert_equal(straight[key], b[key], key)
