"""What the ``spt`` command leaves on disk: the run directory's own config and log, a finished
run left alone, a sweep's summary table, and rows logged when epochs are shorter than the
logging interval."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from spt.cli import main

DOCS = Path(__file__).resolve().parents[3] / "docs"

TINY = """\
manager:
  seed: 0
trainer:
  _target_: lightning.Trainer
  max_epochs: 1
  accelerator: cpu
  enable_progress_bar: false
  enable_model_summary: false
  log_every_n_steps: 1
module:
  _target_: spt.Module
  forward: {_target_: hydra.utils.get_method, path: spt_module.testing.classification_forward}
  backbone: {_target_: torch.nn.Linear, in_features: 8, out_features: 16}
  head: {_target_: torch.nn.Linear, in_features: 16, out_features: 3}
  optim:
    optimizer: {type: SGD, lr: 0.1}
data:
  _target_: spt.data.DataModule
  train:
    _target_: torch.utils.data.DataLoader
    dataset: {_target_: spt_module.testing.RandomDictDataset, n: 16}
    batch_size: 8
  val:
    _target_: torch.utils.data.DataLoader
    dataset: {_target_: spt_module.testing.RandomDictDataset, n: 8, seed: 1}
    batch_size: 8
"""


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # Hydra's outputs/ and multirun/ would go here
    path = tmp_path / "conf" / "tiny.yaml"
    path.parent.mkdir()
    path.write_text(TINY)
    return path


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_run_dir_holds_the_config_overrides_and_log_of_every_invocation(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tiny.parent.parent / "runs" / "x"
    assert main([str(tiny), f"+manager.run_dir={run}"]) == 0
    assert main([str(tiny), f"+manager.run_dir={run}", "trainer.max_epochs=2"]) == 0
    assert not (tiny.parent.parent / "outputs").exists()  # no fresh outputs/DATE/TIME
    invocations = sorted((run / ".hydra").iterdir())
    assert len(invocations) == 2
    first, second = (yaml.safe_load((i / "overrides.yaml").read_text()) for i in invocations)
    assert first == [f"+manager.run_dir={run}"]
    assert second == [f"+manager.run_dir={run}", "trainer.max_epochs=2"]
    assert (
        yaml.safe_load((invocations[1] / "config.yaml").read_text())["trainer"]["max_epochs"] == 2
    )
    log = (run / "cli.log").read_text()
    assert log.count("spt.Manager: run directory") == 2  # appended, not replaced
    assert "resuming from" in log
    record = json.loads((run / "results.json").read_text())
    assert record["config"]["trainer"]["max_epochs"] == 2  # the composed config


def test_rerun_of_a_finished_run_changes_nothing(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tiny.parent.parent / "run"
    assert main([str(tiny), f"+manager.run_dir={run}"]) == 0
    before = _hashes(run)
    capsys.readouterr()
    assert main([str(tiny), f"+manager.run_dir={run}"]) == 0
    out = capsys.readouterr().out
    assert "holds a finished run" in out
    assert (run / "results.txt").read_text() in out
    assert _hashes(run) == before  # not even cli.log or .hydra/ changed


def test_sweep_writes_one_summary_table_with_the_overrides_as_columns(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tiny.parent.parent / "sweep"
    args = [
        str(tiny),
        "-m",
        "manager.seed=0,1",
        "module.optim.optimizer.lr=0.1",
        f"hydra.sweep.dir={sweep}",
    ]
    assert main(args) == 0
    summary = json.loads((sweep / "summary.json").read_text())
    rows = summary["rows"]
    assert [(r["job"], r["manager.seed"], r["status"]) for r in rows] == [
        (0, "0", "complete"),
        (1, "1", "complete"),
    ]
    assert summary["columns"][:4] == ["job", "manager.seed", "module.optim.optimizer.lr", "status"]
    for row, job in zip(rows, ("0", "1"), strict=True):
        record = json.loads((sweep / job / "results.json").read_text())
        assert row["val/loss"] == record["metrics"]["val/loss"]
    table = (sweep / "summary.txt").read_text()
    assert table.splitlines()[0].split()[:4] == summary["columns"][:4]
    assert len(table.splitlines()) == 2 + len(rows)
    assert table in capsys.readouterr().out + "\n"


def _docs_config() -> str:
    """The small complete file of docs/cli.md."""
    text = (DOCS / "cli.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    (block,) = [b for b in blocks if "_target_: lightning.Trainer" in b]
    return block


def test_epochs_shorter_than_the_logging_interval_still_log_a_row_per_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "small.yaml"
    config.write_text(_docs_config())
    assert "log_every_n_steps" not in config.read_text()  # Lightning's default, 50
    run = tmp_path / "run"
    args = [
        str(config),
        "+trainer.limit_train_batches=3",  # 3 steps per epoch, fewer than 50
        "+trainer.enable_progress_bar=false",
        f"+manager.run_dir={run}",
    ]
    assert main(args) == 0
    with open(run / "logs/metrics.csv") as file:
        rows = [r for r in csv.DictReader(file) if r.get("train/loss")]
    assert [(r["epoch"], r["step"]) for r in rows] == [("0", "2"), ("1", "5")]  # each epoch's end
    out = capsys.readouterr().out
    assert "train/loss" in out  # the final table
    log = (run / "cli.log").read_text()
    assert log.count("exceeds the 3 steps of an epoch") == 1
