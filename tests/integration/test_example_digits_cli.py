"""The README's first command, `spt examples/simclr_digits.yaml`, end to end through the real CLI.

Shortened with overrides (one epoch of two batches) so it runs in seconds; the full run is
measured by benchmarks/example_digits.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_simclr_digits_example_runs_through_the_spt_command(tmp_path: Path) -> None:
    spt_command = Path(sys.executable).parent / "spt"
    command = [str(spt_command)] if spt_command.is_file() else [sys.executable, "-m", "spt"]
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [
            *command,
            str(ROOT / "examples/simclr_digits.yaml"),
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=2",
            "callbacks.rankme.every_n_steps=2",
            f"+manager.run_dir={run_dir}",
        ],
        cwd=tmp_path,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    table = done.stdout[done.stdout.rfind("metric") :]
    for name in ("knn/val/top1", "linear_probe/val/top1", "rankme/rankme"):
        assert name in table, table
    assert "Epoch 0" in done.stdout  # the progress bar (tqdm writes to stdout)
    # only those three: the log across resumes, the checkpointing, and the training curves
    added = re.search(r"added callbacks: (.*)$", done.stdout + done.stderr, re.MULTILINE)
    assert added is not None, done.stdout[-2000:] + done.stderr[-2000:]
    assert re.fullmatch(
        r"RunLog\(.*\), RunCheckpoint\(.*\), TrainingCurves\('RUN/plots'\)", added.group(1)
    )
    saved = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)
    assert saved["global_step"] == 2
    assert (run_dir / "logs/metrics.csv").is_file()
    assert (run_dir / "backbone.pt").is_file()
