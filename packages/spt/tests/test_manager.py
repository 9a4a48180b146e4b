"""The Manager: run directory, loggers, its one callback, atomic checkpoints, summary, backbone."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import spt
from spt._loggers import RunCSVLogger
from spt._run_log import RunLog
from spt.checkpoint import RunCheckpoint, atomic_save_checkpoint
from spt.manager import load_backbone
from spt_module.testing import RandomDictDataset, classification_forward, make_trainer


def _module() -> spt.Module:
    torch.manual_seed(0)
    return spt.Module(
        backbone=nn.Sequential(nn.Linear(8, 16), nn.ReLU()),
        head=nn.Linear(16, 3),
        forward=classification_forward,
    )


def _data() -> spt.data.DataModule:
    return spt.data.DataModule(
        train=DataLoader(RandomDictDataset(n=32), batch_size=8, shuffle=True),
        val=DataLoader(RandomDictDataset(n=16, seed=1), batch_size=8),
    )


def test_manager_adds_only_its_log_checkpoint_and_curves_callbacks_and_logs_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = make_trainer(max_epochs=1)
    before = list(trainer.callbacks)
    with caplog.at_level(logging.INFO, logger="spt"):
        spt.Manager(trainer=trainer, module=_module(), data=_data(), run_dir=tmp_path)()
    added = [c for c in trainer.callbacks if not any(c is b for b in before)]
    assert sorted(type(c).__name__ for c in added) == ["RunCheckpoint", "RunLog", "TrainingCurves"]
    assert isinstance(trainer.callbacks[0], RunLog)  # first: it restores state before others log
    assert "RunCheckpoint" in caplog.text
    assert "RunLog" in caplog.text
    assert (tmp_path / "checkpoints/last.ckpt").is_file()


def test_csv_logger_is_the_default(tmp_path: Path) -> None:
    trainer = make_trainer(max_epochs=2, logger=True, log_every_n_steps=1)
    spt.Manager(trainer=trainer, module=_module(), data=_data(), run_dir=tmp_path)()
    assert [type(lg) for lg in trainer.loggers] == [RunCSVLogger]
    header = (tmp_path / "logs/metrics.csv").read_text().splitlines()[0].split(",")
    assert "hparams/lr_default" in header


def test_a_logger_the_user_chose_is_kept(tmp_path: Path) -> None:
    trainer = make_trainer(max_epochs=1)  # logger=False
    spt.Manager(trainer=trainer, module=_module(), data=_data(), run_dir=tmp_path)()
    assert trainer.loggers == []
    assert not (tmp_path / "logs").exists()


def test_trainer_from_a_dict_logs_to_csv_in_the_run_dir(tmp_path: Path) -> None:
    manager = spt.Manager(
        trainer={
            "max_epochs": 1,
            "accelerator": "cpu",
            "enable_progress_bar": False,
            "log_every_n_steps": 1,
        },
        module=_module(),
        data=_data(),
        run_dir=tmp_path,
    )
    manager()
    assert manager.trainer is not None
    assert Path(manager.trainer.default_root_dir).resolve() == tmp_path.resolve()
    assert (tmp_path / "logs/metrics.csv").is_file()


def test_wandb_logger_works_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    trainer = make_trainer(max_epochs=1, logger=True, log_every_n_steps=1)
    manager = spt.Manager(
        trainer=trainer,
        module=_module(),
        data=_data(),
        run_dir=tmp_path,
        wandb={"project": "spt-test"},
    )
    manager()
    from lightning.pytorch.loggers import WandbLogger

    assert [type(lg) for lg in trainer.loggers] == [RunCSVLogger, WandbLogger]
    run_id = (tmp_path / "wandb_id.txt").read_text().strip()
    assert any(run_id in p.name for p in (tmp_path / "wandb").glob("offline-run-*"))


def test_wandb_without_an_api_key_says_how_to_run_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wandb = pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)

    def init(**kwargs: Any) -> Any:  # what wandb.init does without a key (no network used)
        raise wandb.errors.UsageError("No API key configured. Use `wandb login` to log in.")

    monkeypatch.setattr(wandb, "init", init)
    monkeypatch.setattr(wandb, "run", None)  # no run left by an earlier test
    manager = spt.Manager(
        trainer=make_trainer(max_epochs=1, logger=True),
        module=_module(),
        data=_data(),
        run_dir=tmp_path,
        wandb={"project": "spt-test"},
    )
    with pytest.raises(RuntimeError, match="No API key configured") as raised:
        manager()
    message = str(raised.value)
    assert "WANDB_MODE=offline" in message
    assert "manager.wandb.mode=offline" in message
    assert not (tmp_path / "checkpoints").exists()  # before anything trained


def test_final_metrics_are_printed_as_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probe = spt.callbacks.OnlineProbe(name="probe", probe=nn.Linear(16, 3))
    trainer = make_trainer(max_epochs=1, callbacks=[probe])
    metrics = spt.Manager(trainer=trainer, module=_module(), data=_data(), run_dir=tmp_path)()
    out = capsys.readouterr().out
    assert "probe/val/top1" in metrics
    header, rule, *rows = out.strip().splitlines()[-(len(metrics) + 2) :]
    assert header.split() == ["metric", "value"]
    assert set(rule) <= {"-", " "}
    assert {r.split()[0] for r in rows} == set(metrics)


def test_saved_backbone_loads_into_a_fresh_backbone(tmp_path: Path) -> None:
    module = _module()
    spt.Manager(trainer=make_trainer(max_epochs=1), module=module, data=_data(), run_dir=tmp_path)()
    fresh = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
    assert not torch.equal(fresh[0].weight, module.backbone[0].weight)
    load_backbone(fresh, tmp_path / "backbone.pt")  # torch.load(weights_only=True)
    x = torch.randn(4, 8)
    torch.testing.assert_close(fresh(x), module.backbone(x))
    from_ckpt = load_backbone(
        nn.Sequential(nn.Linear(8, 16), nn.ReLU()), tmp_path / "checkpoints/last.ckpt"
    )
    torch.testing.assert_close(from_ckpt(x), module.backbone(x))


def test_save_backbone_names_a_missing_attribute(tmp_path: Path) -> None:
    with pytest.raises(AttributeError, match="'encoder'"):
        spt.save_backbone(_module(), tmp_path / "b.pt", attribute="encoder")


class _HalfWritingTrainer:
    """Writes half a file, then fails, as a process killed mid-save would."""

    is_global_zero = True

    class strategy:  # noqa: N801
        @staticmethod
        def barrier(name: str) -> None:
            pass

    def save_checkpoint(self, path: Any, weights_only: bool = False) -> None:
        Path(path).write_bytes(b"half")
        raise OSError("disk full")


def test_checkpoint_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    torch.save({"global_step": 3}, path)
    with pytest.raises(OSError, match="disk full"):
        atomic_save_checkpoint(_HalfWritingTrainer(), path)  # type: ignore[arg-type]
    assert torch.load(path, weights_only=True) == {"global_step": 3}


def test_periodic_checkpoints_leave_no_temporary_file(tmp_path: Path) -> None:
    seen: list[int] = []

    class Spy(RunCheckpoint):
        def save(self, trainer: Any) -> None:
            super().save(trainer)
            seen.append(torch.load(self.path, weights_only=True)["global_step"])

    trainer = make_trainer(max_epochs=2)
    manager = spt.Manager(
        trainer=trainer, module=_module(), data=_data(), run_dir=tmp_path, ckpt_every_n_steps=3
    )
    manager.checkpoint_class = Spy
    manager()
    assert seen == [3, 6, 8]  # every 3 steps, and at the end (4 steps per epoch)
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["last.ckpt"]


def test_manager_rejects_what_is_not_a_trainer_module_or_datamodule(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="trainer"):
        spt.Manager(trainer="fast", module=_module(), data=_data())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="module"):
        spt.Manager(trainer=make_trainer(), module=nn.Linear(2, 2), data=_data())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="DataModule"):
        spt.Manager(trainer=make_trainer(), module=_module(), data=[1])  # type: ignore[arg-type]


def test_the_data_gpu_transform_still_runs_under_the_manager(tmp_path: Path) -> None:
    calls: list[str] = []

    def transform(batch: dict[str, Any]) -> dict[str, Any]:
        calls.append("train")
        return batch

    data = spt.data.DataModule(
        train=DataLoader(RandomDictDataset(n=16), batch_size=8), gpu_transform={"train": transform}
    )
    spt.Manager(trainer=make_trainer(max_epochs=1), module=_module(), data=data, run_dir=tmp_path)()
    assert calls == ["train", "train"]


def test_under_slurm_the_run_directory_is_named_after_the_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A requeued job keeps its id, so it finds the checkpoint of its first attempt.
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    manager = spt.Manager(trainer=make_trainer(), module=_module(), data=_data())
    assert manager.run_dir == Path("spt_runs/slurm-77")
    assert manager.ckpt_path == Path("spt_runs/slurm-77/checkpoints/last.ckpt")


def test_checkpoint_follows_lightnings_slurm_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    from lightning.fabric.plugins.environments import SLURMEnvironment

    from spt.checkpoint import slurm_settings

    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    monkeypatch.setenv("SLURM_JOB_ID", "5")
    monkeypatch.setenv("SLURM_NODELIST", "node1")
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_LOCALID", "0")
    monkeypatch.setenv("SLURM_NODEID", "0")
    default = make_trainer()
    assert slurm_settings(default) == {"signals": (signal.SIGUSR1, signal.SIGTERM)}
    custom = make_trainer(
        plugins=[SLURMEnvironment(auto_requeue=False, requeue_signal=signal.SIGUSR2)]
    )
    settings = slurm_settings(custom)
    assert settings == {"signals": (signal.SIGUSR2, signal.SIGTERM), "requeue_command": None}
    checkpoint = RunCheckpoint("last.ckpt", **settings)
    assert "SIGUSR2/SIGTERM)" in repr(checkpoint)


def _trained(tmp_path: Path) -> tuple[spt.Module, spt.data.DataModule]:
    module, data = _module(), _data()
    spt.Manager(trainer=make_trainer(max_epochs=1), module=module, data=data, run_dir=tmp_path)()
    return module, data


def test_validate_and_test_use_the_checkpoint_and_return_the_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trained, _ = _trained(tmp_path)
    loader = DataLoader(RandomDictDataset(n=16, seed=1), batch_size=8)
    data = spt.data.DataModule(val=loader, test=loader)
    fresh = _module()
    torch.nn.init.zeros_(fresh.head.weight)  # differs from the trained weights
    manager = spt.Manager(trainer=make_trainer(), module=fresh, data=data, run_dir=tmp_path)
    val = manager.validate()
    test = manager.test()
    assert set(val) == {"val/loss"}
    assert set(test) == {"test/loss"}
    assert val["val/loss"] == pytest.approx(test["test/loss"])  # same loader, same weights
    torch.testing.assert_close(fresh.head.weight, trained.head.weight)  # loaded from the ckpt
    assert "val/loss" in capsys.readouterr().out  # the table


def test_validate_without_a_checkpoint_uses_the_module_as_it_is(tmp_path: Path) -> None:
    module = _module()
    before = module.head.weight.detach().clone()
    data = spt.data.DataModule(val=DataLoader(RandomDictDataset(n=8), batch_size=8))
    manager = spt.Manager(trainer=make_trainer(), module=module, data=data, run_dir=tmp_path)
    assert "val/loss" in manager.validate()
    torch.testing.assert_close(module.head.weight, before)
    assert not (tmp_path / "checkpoints").exists()


def test_predict_returns_one_output_per_batch_from_the_checkpoint(tmp_path: Path) -> None:
    trained, _ = _trained(tmp_path)
    dataset = RandomDictDataset(n=12, seed=2)
    data = spt.data.DataModule(predict=DataLoader(dataset, batch_size=5))
    manager = spt.Manager(trainer=make_trainer(), module=_module(), data=data, run_dir=tmp_path)
    outputs = manager.predict()
    assert [len(o["logits"]) for o in outputs] == [5, 5, 2]
    x = torch.stack([dataset[i]["x"] for i in range(12)])
    expected = trained.head(trained.backbone(x))
    torch.testing.assert_close(torch.cat([o["logits"] for o in outputs]), expected.detach())


def test_weights_that_do_not_fit_list_the_missing_and_unexpected_keys(tmp_path: Path) -> None:
    torch.save({"0.weight": torch.zeros(16, 8), "extra.bias": torch.zeros(2)}, tmp_path / "b.pt")
    with pytest.raises(
        ValueError, match=r"missing keys \[0.bias\], unexpected keys \[extra.bias\]"
    ):
        load_backbone(nn.Sequential(nn.Linear(8, 16)), tmp_path / "b.pt")


def test_a_run_directory_loads_its_backbone_pt(tmp_path: Path) -> None:
    trained, _ = _trained(tmp_path)
    fresh = load_backbone(nn.Sequential(nn.Linear(8, 16), nn.ReLU()), tmp_path)
    torch.testing.assert_close(fresh[0].weight, trained.backbone[0].weight)
    with pytest.raises(FileNotFoundError, match=r"neither backbone\.pt nor checkpoints/last\.ckpt"):
        load_backbone(fresh, tmp_path / "checkpoints")
