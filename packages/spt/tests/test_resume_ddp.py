"""Exact resume under DDP, and a bounded exit when a rank dies (2 gloo processes on the CPU).

Each run is ``_resume_ddp_worker.py``: a Manager with ``strategy="ddp"``, ``devices=2``,
checkpoints every 4 steps, 6 steps per epoch and 2 epochs (12 steps), an online probe, an
online kNN queue and an EMA teacher. In the resume tests Lightning's launcher starts rank 1
from rank 0, as on a workstation, and a kill takes the whole process group, as a node
failure or ``scancel`` does. In the tests of a failing rank each rank is started on its own,
as ``srun`` or ``torchrun`` start them, so that no launcher stops the survivor.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from spt_module.testing import free_port, rank_environment

WORKER = Path(__file__).with_name("_resume_ddp_worker.py")
TIMEOUT = 900  # generous: two processes on a shared 2-core machine

# several 2-process runs per test: beyond the suite's 300 s per test on a loaded machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(4 * TIMEOUT)]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1", **extra}


def _launch(run_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """Run the worker (rank 0, which starts rank 1) in a new process group; kill it on timeout."""
    process = subprocess.Popen(
        [sys.executable, str(WORKER), str(run_dir), *flags],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"the 2-process run did not end in {TIMEOUT} s:\n{out[-4000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, None)


def _assert_equal(a: Any, b: Any, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype, where
        assert torch.equal(a, b), f"{where}: max abs diff {(a.double() - b.double()).abs().max()}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"
        for key in a:
            _assert_equal(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _checkpoint(run_dir: Path) -> dict[str, Any]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def _assert_same_run(expected: Path, resumed: Path) -> None:
    """Both ranks' parameters, optimizer and random states, the final checkpoint and the CSV."""
    for rank in range(2):
        name = f"final_rank{rank}.pt"
        _assert_equal(
            torch.load(expected / name, weights_only=True),
            torch.load(resumed / name, weights_only=True),
            f"rank {rank}",
        )
    a, b = _checkpoint(expected), _checkpoint(resumed)
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "global_step", "epoch"):
        _assert_equal(a[key], b[key], key)
    # the probe, the kNN queue, the loader's and RunCheckpoint's per-rank random states
    _assert_equal(a["callbacks"], b["callbacks"], "callbacks")
    _assert_equal(a["loops"]["fit_loop"], b["loops"]["fit_loop"], "fit_loop")
    rows = _csv_rows(expected)
    assert len(rows) > 12  # a row per step (log_every_n_steps=1) and the epoch rows
    assert _csv_rows(resumed) == rows  # row for row, epoch means included


def _csv_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "logs" / "metrics.csv").open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("ddp_uninterrupted")
    done = _launch(run_dir)
    assert done.returncode == 0, done.stdout[-4000:]
    return run_dir


def test_ddp_run_killed_mid_epoch_resumes_to_the_uninterrupted_run(
    tmp_path: Path, uninterrupted: Path
) -> None:
    killed = _launch(tmp_path, "--kill-at-step", "10")
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-4000:]
    saved = _checkpoint(tmp_path)
    assert (saved["global_step"], saved["epoch"]) == (8, 1)  # batch 2 of 6 in epoch 1
    per_rank = saved["callbacks"]["RunCheckpoint"]["rng"]["per_rank"]
    assert not torch.equal(per_rank[0]["torch"], per_rank[1]["torch"])  # the ranks drifted apart
    resumed = _launch(tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-4000:]
    _assert_same_run(uninterrupted, tmp_path)


def test_ddp_run_killed_while_writing_a_checkpoint_resumes_from_the_previous_one(
    tmp_path: Path, uninterrupted: Path
) -> None:
    killed = _launch(tmp_path, "--kill-in-write-at-step", "8")
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-4000:]
    assert (tmp_path / "checkpoints" / ".last.ckpt.tmp").is_file()  # written, never renamed
    assert _checkpoint(tmp_path)["global_step"] == 4
    resumed = _launch(tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-4000:]
    _assert_same_run(uninterrupted, tmp_path)


def _launch_each_rank(run_dir: Path, *flags: str) -> list[subprocess.Popen[str]]:
    """Start both ranks on their own, as srun or torchrun do."""
    port = free_port()
    processes = []
    for rank in range(2):
        processes.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), str(run_dir), *flags],
                env={**rank_environment(rank, 2, port), "PYTHONFAULTHANDLER": "1"},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )
    return processes


def _wait(process: subprocess.Popen[str], others: list[subprocess.Popen[str]]) -> str:
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        for p in others:
            os.killpg(p.pid, signal.SIGKILL)
        pytest.fail(f"rank 0 still runs after {TIMEOUT} s")
    return out


def test_when_a_rank_dies_the_other_exits_non_zero_with_a_message(tmp_path: Path) -> None:
    rank0, rank1 = _launch_each_rank(tmp_path, "--exit-rank1-at-step", "5")
    log = _wait(rank0, [rank0, rank1])
    _wait(rank1, [rank1])
    assert rank1.returncode == 1
    assert rank0.returncode != 0, log[-4000:]
    assert "rank 0 of 2 lost contact with another process in a collective at step 5" in log, log[
        -4000:
    ]
    assert f"The last checkpoint is {tmp_path / 'checkpoints' / 'last.ckpt'}" in log


def test_when_a_rank_hangs_the_other_fails_after_the_collective_timeout(tmp_path: Path) -> None:
    # gloo notices a dead peer at once; a live one that stops answering only the timeout ends
    rank0, rank1 = _launch_each_rank(
        tmp_path, "--hang-rank1-at-step", "5", "--collective-timeout", "20"
    )
    log = _wait(rank0, [rank0, rank1])
    assert rank1.poll() is None  # still asleep in its batch
    os.killpg(rank1.pid, signal.SIGKILL)
    rank1.communicate()
    assert rank0.returncode != 0, log[-4000:]
    assert "did not answer within 20 s" in log, log[-4000:]
