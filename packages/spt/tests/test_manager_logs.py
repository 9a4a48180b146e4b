"""Logs and results are never lost: the CSV across resume, results on disk, finished reruns."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from importlib import metadata
from pathlib import Path
from typing import Any

import lightning as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassAccuracy

import spt
from spt_module.testing import RandomDictDataset, classification_forward, make_trainer


class CrashAt(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("simulated crash")


def _forward_with_an_epoch_mean(self: Any, batch: dict[str, Any], stage: str) -> dict[str, Any]:
    out = classification_forward(self, batch, stage)
    if stage == "fit":  # a value Lightning averages over the epoch
        self.log("train/embedding_mean", out["embedding"].mean().detach(), on_epoch=True)
    return out


def _run(run_dir: Path, crash_at: int | None = None, **manager: Any) -> spt.Manager:
    """3 epochs of 5 steps, a row every 2 steps, epoch means of the module, a metric, a probe."""
    torch.manual_seed(0)
    module = spt.Module(
        backbone=nn.Sequential(nn.Linear(8, 16), nn.ReLU()),
        head=nn.Linear(16, 3),
        forward=_forward_with_an_epoch_mean,
        metrics={"acc": MulticlassAccuracy(num_classes=3)},
        optim={"optimizer": {"type": "AdamW", "lr": 1e-2}},
    )
    data = spt.data.DataModule(
        train=DataLoader(RandomDictDataset(n=40), batch_size=8, shuffle=True),
        val=DataLoader(RandomDictDataset(n=16, seed=1), batch_size=8),
    )
    callbacks: list[pl.Callback] = [spt.callbacks.OnlineProbe(name="probe", probe=nn.Linear(16, 3))]
    if crash_at is not None:
        callbacks.append(CrashAt(crash_at))
    trainer = make_trainer(max_epochs=3, logger=True, log_every_n_steps=2, callbacks=callbacks)
    runner = spt.Manager(
        trainer=trainer,
        module=module,
        data=data,
        seed=0,
        run_dir=run_dir,
        ckpt_every_n_steps=4,
        **manager,
    )
    runner()
    return runner


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    run_dir = tmp_path_factory.mktemp("straight")
    manager = _run(run_dir, config={"note": "the uninterrupted run"})
    return run_dir, manager.metrics


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_resumed_run_appends_to_the_csv_log_row_for_row(
    tmp_path: Path, straight: tuple[Path, dict[str, float]]
) -> None:
    # Checkpoint at step 12 (epoch 2, batch 2 of 5); the crash comes at step 14, after the
    # rows of step 13 reached the CSV: those rows go, the earlier ones stay, and the epoch-2
    # means (module, metric, probe accuracy) are taken over the whole epoch.
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(tmp_path, crash_at=14)
    with open(tmp_path / "logs/metrics.csv") as file:
        assert "13" in {row["step"] for row in csv.DictReader(file)}  # logged after the checkpoint
    _run(tmp_path)
    expected = (straight[0] / "logs/metrics.csv").read_text()
    assert (tmp_path / "logs/metrics.csv").read_text() == expected
    header = expected.splitlines()[0].split(",")
    for column in ("train/embedding_mean_epoch", "train/acc", "probe/train/top1", "probe/val/top1"):
        assert column in header


def test_resume_continues_the_epoch_means_of_metrics_and_probes(
    tmp_path: Path, straight: tuple[Path, dict[str, float]]
) -> None:
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(tmp_path, crash_at=13)
    resumed = _run(tmp_path)
    expected = straight[1]
    for name in ("train/embedding_mean_epoch", "train/acc", "probe/train/top1"):
        assert resumed.metrics[name] == expected[name], name  # bit for bit, not approximately


def test_results_json_records_the_run(straight: tuple[Path, dict[str, float]]) -> None:
    run_dir, metrics = straight
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "complete"
    assert record["metrics"] == pytest.approx(metrics)
    assert record["config"] == {"note": "the uninterrupted run"}
    assert record["seed"] == 0
    assert {"spt", "spt-module", "torch", "lightning", "python"} <= set(record["versions"])
    assert record["versions"]["torch"] == metadata.version("torch")
    assert record["wall_time_s"] > 0
    assert record["checkpoint"] == str(run_dir / "checkpoints/last.ckpt")
    assert record["global_step"] == 15
    assert record["trainer"] == {"max_epochs": 3, "max_steps": -1}
    assert [i["status"] for i in record["invocations"]] == ["complete"]
    assert (run_dir / "results.txt").read_text() == spt.manager.summary_table(metrics) + "\n"


def test_rerun_of_a_finished_run_prints_its_table_and_changes_nothing(
    straight: tuple[Path, dict[str, float]], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, metrics = straight
    before = _hashes(run_dir)
    capsys.readouterr()
    again = _run(run_dir)
    out = capsys.readouterr().out
    assert "holds a finished run" in out
    assert (run_dir / "results.txt").read_text() in out
    assert again.metrics == pytest.approx(metrics)
    assert again.trainer is None  # nothing was built
    assert _hashes(run_dir) == before


def test_a_longer_run_in_a_finished_directory_resumes(tmp_path: Path) -> None:
    first = spt.Manager(
        trainer=make_trainer(max_epochs=1),
        module=spt.Module(
            backbone=nn.Linear(8, 16), head=nn.Linear(16, 3), forward=classification_forward
        ),
        data=spt.data.DataModule(train=DataLoader(RandomDictDataset(n=16), batch_size=8)),
        run_dir=tmp_path,
    )
    first()
    longer = spt.Manager(
        trainer=make_trainer(max_epochs=2),
        module=spt.Module(
            backbone=nn.Linear(8, 16), head=nn.Linear(16, 3), forward=classification_forward
        ),
        data=spt.data.DataModule(train=DataLoader(RandomDictDataset(n=16), batch_size=8)),
        run_dir=tmp_path,
    )
    longer()
    assert longer.trainer is not None
    assert longer.trainer.global_step == 4
    record = json.loads((tmp_path / "results.json").read_text())
    assert [i["status"] for i in record["invocations"]] == ["complete", "complete"]
    assert record["invocations"][1]["resumed_from"] == str(tmp_path / "checkpoints/last.ckpt")


def test_a_fresh_start_moves_an_old_csv_log_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = tmp_path / "logs/metrics.csv"
    old.parent.mkdir(parents=True)
    old.write_text("epoch,step,train/loss\n0,0,9.0\n")
    module = spt.Module(
        backbone=nn.Linear(8, 16), head=nn.Linear(16, 3), forward=classification_forward
    )
    data = spt.data.DataModule(train=DataLoader(RandomDictDataset(n=16), batch_size=8))
    trainer = make_trainer(max_epochs=1, logger=True, log_every_n_steps=1)
    with caplog.at_level(logging.WARNING, logger="spt"):
        spt.Manager(trainer=trainer, module=module, data=data, run_dir=tmp_path)()
    (moved,) = (tmp_path / "logs").glob("metrics.*.csv")
    assert moved.read_text() == "epoch,step,train/loss\n0,0,9.0\n"  # kept, not deleted
    assert "9.0" not in old.read_text()
    assert "moved to" in caplog.text
