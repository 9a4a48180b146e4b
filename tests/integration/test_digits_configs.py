"""Every config of examples/digits/ builds through the `spt` command and trains two steps.

One case per YAML file found at collection time, so a method's config is tested as soon as
its file is there. Each run is shortened with overrides (two optimizer steps on batches of
32, no validation); the full trainings are measured by benchmarks/methods_digits.py.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from spt.cli import main

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits"
CONFIGS = sorted(DIGITS.glob("*.yaml"))

SHORT_RUN = [
    "+trainer.max_steps=2",
    "trainer.log_every_n_steps=1",
    "+trainer.limit_val_batches=0",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "data.train.batch_size=32",
    "callbacks.rankme.every_n_steps=2",
]


def logged(run_dir: Path, key: str) -> list[float]:
    """The values of ``key`` in the CSV log of a run."""
    (metrics_csv,) = run_dir.rglob("metrics.csv")
    with metrics_csv.open() as f:
        return [float(row[key]) for row in csv.DictReader(f) if row.get(key)]


def test_every_method_of_the_comparison_has_a_config() -> None:
    existing = {"simclr", "byol", "vicreg", "barlow_twins", "dino", "supervised", "mae", "clip"}
    assert existing <= {path.stem for path in CONFIGS}


@pytest.mark.parametrize("config", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_digits_config_trains_two_steps_with_a_finite_loss(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # Hydra's outputs/ go here
    run_dir = tmp_path / "run"
    assert main([str(config), *SHORT_RUN, f"+manager.run_dir={run_dir}"]) == 0
    saved = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)
    assert saved["global_step"] == 2
    losses = logged(run_dir, "train/loss")
    assert len(losses) == 2
    assert all(math.isfinite(loss) for loss in losses), losses
