"""The CLIP digits config validates through the `spt` command and logs its zero-shot top-1.

One short epoch (two steps on batches of 32) and one validation of the 360 test digits: the
zero-shot callback embeds the ten class prompts with the module's text encoder and logs the
top-1 of the test images against them, beside the probe and the kNN.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from spt.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "digits" / "clip.yaml"


def test_clip_config_logs_zero_shot_top1_at_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # Hydra's outputs/ go here
    run_dir = tmp_path / "run"
    overrides = [
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "data.train.batch_size=32",
        f"+manager.run_dir={run_dir}",
    ]
    assert main([str(CONFIG), *overrides]) == 0
    (metrics_csv,) = run_dir.rglob("metrics.csv")
    with metrics_csv.open() as f:
        rows = list(csv.DictReader(f))
    zero_shot = [float(r["zero_shot/val/top1"]) for r in rows if r.get("zero_shot/val/top1")]
    assert len(zero_shot) == 1
    assert 0.0 <= zero_shot[0] <= 1.0
    assert any(r.get("knn/val/top1") for r in rows)
