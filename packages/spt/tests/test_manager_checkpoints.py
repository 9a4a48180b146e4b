"""One checkpoint policy: last.ckpt, every N steps, the newest k copies, the best k by a metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

import spt
from spt_module.testing import RandomDictDataset, classification_forward, make_trainer


def _module() -> spt.Module:
    torch.manual_seed(0)
    return spt.Module(
        backbone=nn.Sequential(nn.Linear(8, 16), nn.ReLU()),
        head=nn.Linear(16, 3),
        forward=classification_forward,
        optim={"optimizer": {"type": "SGD", "lr": 0.5}},
    )


def _data() -> spt.data.DataModule:
    return spt.data.DataModule(
        train=DataLoader(RandomDictDataset(n=32), batch_size=8, shuffle=True),  # 4 steps
        val=DataLoader(RandomDictDataset(n=16, seed=1), batch_size=8),
    )


class CrashAt(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("simulated crash")


class ValLoss(pl.Callback):
    """Records (global step, val/loss) after each validation."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.seen.append((trainer.global_step, float(trainer.callback_metrics["val/loss"])))


def _step_of(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["global_step"])


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_no_second_copy_of_each_checkpoint_under_logs(tmp_path: Path) -> None:
    trainer = make_trainer(max_epochs=1, logger=True, enable_checkpointing=True)
    assert any(isinstance(c, ModelCheckpoint) for c in trainer.callbacks)  # Lightning's default
    spt.Manager(trainer=trainer, module=_module(), data=_data(), run_dir=tmp_path)()
    assert not any(isinstance(c, ModelCheckpoint) for c in trainer.callbacks)
    assert not (tmp_path / "logs/checkpoints").exists()
    assert _names(tmp_path / "checkpoints") == ["last.ckpt"]


def test_a_model_checkpoint_the_user_configured_is_kept(tmp_path: Path) -> None:
    mine = ModelCheckpoint(dirpath=tmp_path / "mine", monitor="val/loss")
    trainer = make_trainer(max_epochs=1, enable_checkpointing=True, callbacks=[mine])
    spt.Manager(trainer=trainer, module=_module(), data=_data(), run_dir=tmp_path / "run")()
    assert mine in trainer.callbacks
    assert len(list((tmp_path / "mine").glob("*.ckpt"))) == 1


def _periodic(run_dir: Path, crash_at: int | None = None) -> spt.Manager:
    callbacks = [] if crash_at is None else [CrashAt(crash_at)]
    manager = spt.Manager(
        trainer=make_trainer(max_epochs=3, callbacks=callbacks),
        module=_module(),
        data=_data(),
        run_dir=run_dir,
        ckpt_every_n_steps=2,
        ckpt_keep=2,
    )
    manager()
    return manager


def test_periodic_checkpoints_keep_the_newest_n_also_across_a_resume(tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    _periodic(straight)
    folder = straight / "checkpoints"
    assert _names(folder) == ["last.ckpt", "step-00000010.ckpt", "step-00000012.ckpt"]
    assert [_step_of(folder / n) for n in _names(folder)] == [12, 10, 12]
    resumed = tmp_path / "resumed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        _periodic(resumed, crash_at=7)  # after the copies of steps 4 and 6
    assert _names(resumed / "checkpoints") == [
        "last.ckpt",
        "step-00000004.ckpt",
        "step-00000006.ckpt",
    ]
    _periodic(resumed)
    assert _names(resumed / "checkpoints") == _names(folder)


def test_the_policy_never_deletes_a_file_it_did_not_write(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("mine.ckpt", "step-00000099.ckpt"):
        (folder / name).write_bytes(b"user data")
    _periodic(tmp_path)
    assert (folder / "mine.ckpt").read_bytes() == b"user data"
    assert (folder / "step-00000099.ckpt").read_bytes() == b"user data"


def test_best_k_checkpoints_by_a_monitored_metric(tmp_path: Path) -> None:
    recorder = ValLoss()
    manager = spt.Manager(
        trainer=make_trainer(max_epochs=4, callbacks=[recorder]),
        module=_module(),
        data=_data(),
        run_dir=tmp_path,
        ckpt_monitor="val/loss",
        ckpt_mode="min",
        ckpt_best_k=2,
    )
    manager()
    assert len(recorder.seen) == 4
    best = sorted(recorder.seen, key=lambda s: s[1])[:2]
    expected = sorted(f"best-step-{step:08d}.ckpt" for step, _ in best)
    folder = tmp_path / "checkpoints"
    assert _names(folder) == sorted([*expected, "last.ckpt"])
    for step, _ in best:
        assert _step_of(folder / f"best-step-{step:08d}.ckpt") == step
    record = json.loads((tmp_path / "results.json").read_text())
    assert [b["step"] for b in record["best_checkpoints"]] == [step for step, _ in best]
    assert [b["val/loss"] for b in record["best_checkpoints"]] == pytest.approx(
        [v for _, v in best]
    )


def test_a_monitor_that_is_never_logged_names_the_logged_metrics(tmp_path: Path) -> None:
    manager = spt.Manager(
        trainer=make_trainer(max_epochs=1),
        module=_module(),
        data=_data(),
        run_dir=tmp_path,
        ckpt_monitor="val/acc",
    )
    with pytest.raises(ValueError, match=r"monitor='val/acc' was not logged.*val/loss"):
        manager()
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["status"] == "failed"
    assert "val/acc" in record["error"]


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"ckpt_keep": 2}, "keep=2 keeps periodic checkpoints, but every_n_steps=None"),
        ({"ckpt_monitor": "val/loss", "ckpt_mode": "lowest"}, "mode='lowest' must be 'min'"),
        ({"ckpt_monitor": "val/loss", "ckpt_best_k": 0}, "best_k=0 must be an int >= 1"),
        ({"ckpt_every_n_steps": 2, "ckpt_keep": -2}, "keep=-2 must be -1"),
    ],
)
def test_a_policy_that_cannot_work_is_refused_at_construction(
    policy: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        spt.Manager(trainer=make_trainer(), module=_module(), data=_data(), **policy)


def test_only_lightnings_own_default_model_checkpoint_counts_as_the_default() -> None:
    from spt._run_setup import is_lightning_default_checkpoint

    (default,) = [
        c
        for c in make_trainer(enable_checkpointing=True).callbacks
        if isinstance(c, ModelCheckpoint)
    ]
    assert is_lightning_default_checkpoint(default)
    for configured in (
        ModelCheckpoint(monitor="val/loss"),
        ModelCheckpoint(dirpath="elsewhere"),
        ModelCheckpoint(every_n_train_steps=10),
        ModelCheckpoint(save_last=True),
        ModelCheckpoint(save_top_k=3, monitor="val/loss"),
    ):
        assert not is_lightning_default_checkpoint(configured), configured
