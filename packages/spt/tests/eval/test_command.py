"""``spt eval`` end to end on digits, from a run this test trains, and its errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from spt.cli import main

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"
EVAL = str(EXAMPLES / "digits_eval.yaml")
QUICK = {
    "knn": ["knn.k=[1,20]"],
    "linear": ["linear.epochs=3", "linear.lrs=[0.1]", "linear.weight_decays=[0.0,1e-4]"],
    "finetune": ["finetune.epochs=1", "+trainer.limit_train_batches=2"],
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The main example trained for two batches."""
    root = tmp_path_factory.mktemp("digits")
    args = [
        str(EXAMPLES / "simclr_digits.yaml"),
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.enable_progress_bar=false",
        f"+manager.run_dir={root / 'run'}",
        f"hydra.run.dir={root / 'hydra'}",
    ]
    assert main(args) == 0
    return root / "run"


@pytest.mark.parametrize("protocol", ["knn", "linear", "finetune"])
def test_spt_eval_writes_json_and_csv_in_the_run_directory(
    run_dir: Path, protocol: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", protocol, EVAL, f"weights={run_dir}", *QUICK[protocol]]) == 0
    report = json.loads((run_dir / "eval" / f"{protocol}.json").read_text())
    assert report["protocol"] == protocol
    out = capsys.readouterr().out
    for name, value in report["metrics"].items():
        assert 0.0 <= value <= 1.0
        assert name in out  # the table
    with open(run_dir / "eval" / protocol / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    logged = {k for row in rows for k, v in row.items() if v}
    assert set(report["metrics"]) <= logged
    assert (run_dir / "logs/metrics.csv").is_file()  # the training log is left alone


def test_knn_table_has_one_row_per_k_and_beats_chance(run_dir: Path) -> None:
    assert main(["eval", "knn", EVAL, f"weights={run_dir / 'backbone.pt'}"]) == 0
    metrics = json.loads((run_dir / "eval/knn.json").read_text())["metrics"]
    assert [k for k in metrics if k.startswith("knn/top1")] == [
        f"knn/top1_k{k}" for k in (10, 20, 100, 200)
    ]
    assert metrics["knn/top1_k20"] > 0.5  # 10 classes: chance is 0.1


def test_a_lightning_checkpoint_gives_the_same_knn_as_backbone_pt(run_dir: Path) -> None:
    import spt

    cfg = spt.eval.run("knn", EVAL, [f"weights={run_dir / 'checkpoints/last.ckpt'}", "knn.k=[5]"])
    again = spt.eval.run("knn", EVAL, [f"weights={run_dir / 'backbone.pt'}", "knn.k=[5]"])
    assert cfg["metrics"] == again["metrics"]


def test_weights_that_do_not_fit_the_backbone_list_missing_and_unexpected_keys(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = torch.load(run_dir / "backbone.pt", weights_only=True)
    renamed = {("stem." + k if i == 0 else k): v for i, (k, v) in enumerate(state.items())}
    first = next(iter(state))
    torch.save(renamed, tmp_path / "backbone.pt")
    assert main(["eval", "knn", EVAL, f"weights={tmp_path / 'backbone.pt'}"]) == 2
    err = capsys.readouterr().err
    assert f"missing keys [{first}]" in err
    assert f"unexpected keys [stem.{first}]" in err


def test_samples_without_the_label_key_name_the_key_looked_for(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "knn", EVAL, f"weights={run_dir}", "label=target"]) == 2
    err = capsys.readouterr().err
    assert "no 'target' (looked for label='target')" in err
    assert "'label'" in err  # the keys the samples have


def test_missing_weights_say_how_to_set_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "knn", EVAL]) == 2
    assert "'weights' is not set; add weights=RUN_DIR" in capsys.readouterr().err


def test_unknown_protocol_lists_the_protocols(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "probe", EVAL]) == 2
    assert "use one of knn, linear, finetune" in capsys.readouterr().err


def test_with_wandb_the_metrics_join_the_runs_wandb_run(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    (run_dir / "wandb_id.txt").write_text("digitsrun01\n")  # as a run with wandb leaves it
    args = ["eval", "knn", EVAL, f"weights={run_dir}", "knn.k=[5]", "wandb={project: spt-test}"]
    assert main(args) == 0
    assert list((run_dir / "wandb").glob("offline-run-*-digitsrun01"))
