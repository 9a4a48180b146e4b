"""On SIGUSR1 or SIGTERM the Manager checkpoints and stops: requeued under SLURM, else it exits
with the signal's status and records the run as interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # subprocesses that train and are signalled

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import lightning as pl
    from torch import nn
    from torch.utils.data import DataLoader
    from spt_module.testing import RandomDictDataset, classification_forward, make_trainer
    import spt

    run_dir, marker = Path(sys.argv[1]), Path(sys.argv[2])

    class Slow(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 3:
                marker.write_text("ready")
            if not marker.exists() or marker.read_text() == "ready":
                time.sleep(0.05)  # give the parent time to signal

    module = spt.Module(
        backbone=nn.Linear(8, 16), head=nn.Linear(16, 3), forward=classification_forward
    )
    data = spt.data.DataModule(train=DataLoader(RandomDictDataset(n=400), batch_size=4))
    trainer = make_trainer(max_epochs=2, callbacks=[Slow()])
    spt.Manager(trainer=trainer, module=module, data=data, seed=0, run_dir=run_dir)()
    print("global_step", trainer.global_step)
    """
)


def _start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "run"), str(tmp_path / "marker")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGTERM], ids=["SIGUSR1", "SIGTERM"])
def test_signal_writes_checkpoint_requeues_and_the_requeued_job_resumes(
    tmp_path: Path, signum: int
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"  # stands in for SLURM's: records how it was called
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "spt-test",
        "SLURM_NTASKS": "1",
    }
    child = _start(tmp_path, env)
    marker = tmp_path / "marker"
    deadline = time.monotonic() + 300  # a guard against hanging, not a speed bound
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert child.poll() is None, child.communicate()[0]
    child.send_signal(signum)
    out, _ = child.communicate(timeout=300)
    assert child.returncode == 0, out
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    saved = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert 3 <= saved["global_step"] < 200, out  # stopped early, after the signal
    record = json.loads((tmp_path / "run/results.json").read_text())
    assert record["status"] == "interrupted"
    assert record["interruption"]["requeued"] is True
    assert not (tmp_path / "run/backbone.pt").exists()  # the requeued job writes it

    if signum == signal.SIGTERM:
        return
    marker.write_text("requeued")  # the requeued job: same run directory, no signal
    requeued = _start(tmp_path, env)
    out, _ = requeued.communicate(timeout=600)
    assert requeued.returncode == 0, out
    assert "global_step 200" in out
    assert "resuming from" in out


def _without_slurm() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_signal_outside_slurm_exits_with_the_signals_status_and_no_final_artefacts(
    tmp_path: Path, signum: int
) -> None:
    env = _without_slurm()
    child = _start(tmp_path, env)
    marker = tmp_path / "marker"
    deadline = time.monotonic() + 300  # a guard against hanging, not a speed bound
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert child.poll() is None, child.communicate()[0]
    child.send_signal(signum)
    out, _ = child.communicate(timeout=300)
    assert child.returncode == 128 + signum, out
    run = tmp_path / "run"
    saved = torch.load(run / "checkpoints/last.ckpt", weights_only=True)
    step = saved["global_step"]
    assert 3 <= step < 200, out
    name = signal.Signals(signum).name
    assert f"stopped by {name} at step {step}; checkpoint {run / 'checkpoints/last.ckpt'}" in out
    assert "global_step" not in out  # the script did not go on as if the run had finished
    assert not (run / "backbone.pt").exists()
    assert not (run / "results.txt").exists()
    record = json.loads((run / "results.json").read_text())
    assert record["status"] == "interrupted"
    assert record["interruption"]["signal"] == name
    assert record["interruption"]["step"] == step
    assert record["interruption"]["exit_code"] == 128 + signum

    if signum == signal.SIGUSR1:
        return
    marker.write_text("again")  # the same command again, no signal: it resumes and finishes
    again = _start(tmp_path, env)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert "global_step 200" in out
    assert json.loads((run / "results.json").read_text())["status"] == "complete"
    assert (run / "backbone.pt").is_file()
