"""``benchmarks/faults.py`` at its smallest: 3 interrupted runs of the tiny main example.

Each trial kills the run with another of SIGKILL, SIGTERM and SIGUSR1 (the third during a
checkpoint write), resumes it with the same command and compares its final checkpoint and
``logs/metrics.csv`` with the uninterrupted run. The 20-trial record is in
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(3600)  # seven runs of the example: beyond the suite's 300 s per test
def test_three_interrupted_tiny_runs_resume_to_the_uninterrupted_run(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks/faults.py"),
            "--trials",
            "3",
            "--tiny",
            "--seed",
            "0",
            "--work",
            str(tmp_path / "runs"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    trials = report["trials"]
    assert {t["signal"] for t in trials} == {"SIGKILL", "SIGTERM", "SIGUSR1"}
    assert [t["during_write"] for t in trials] == [False, False, True]
    for trial in trials:
        signum = int(signal.Signals[trial["signal"]])
        assert trial["signal_sent_at_step"] is not None, trial
        if signum == signal.SIGKILL:
            assert trial["exit_code"] == -signal.SIGKILL, trial
        else:  # 128 + the signal, or 0 when it came after the last step
            assert trial["exit_code"] in (128 + signum, 0), trial
        assert trial["resume_exit_code"] == 0, trial
        assert trial["csv_rows"] > 0, trial
        assert trial["identical"], trial
    assert report["identical"] == 3
    assert "| trial |" in done.stdout
