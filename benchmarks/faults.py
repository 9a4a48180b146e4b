"""Fault injection: the main example killed at random steps by random signals, resumed, compared.

Runs ``spt examples/simclr_digits.yaml`` (the README's first command) once without
interruption, then ``--trials`` times with a signal (SIGKILL, SIGTERM or SIGUSR1) sent to its
process group at a random training step; every third trial times the signal to land while a
checkpoint is being written (after the temporary file is written, before it is renamed into
place). Each interrupted run is then started again with the same command, which resumes it,
and its final checkpoint (weights, optimizer and scheduler states, callback states, random
states, loop counters) and ``logs/metrics.csv`` are compared with the uninterrupted run's,
value for value.

    uv run --no-sync python benchmarks/faults.py --trials 20 --seed 0   # the recorded table
    uv run --no-sync python benchmarks/faults.py --trials 3 --tiny      # the test's size

The runs go through ``_faults_child.py``, the ``spt`` command plus a progress file and a
slowed checkpoint write (so that a signal can be timed into one), with
``manager.ckpt_every_n_steps`` set by ``--ckpt-every`` so that a SIGKILL has a checkpoint to
resume from. Prints a table of the trials and writes benchmarks/results/faults.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _common import markdown_table

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "simclr_digits.yaml"
CHILD = Path(__file__).with_name("_faults_child.py")
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGUSR1)
# 2 epochs of 4 batches of 32 images, one validation batch: seconds per run, mostly start-up
TINY = [
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=4",
    "+trainer.limit_val_batches=1",
    "data.train.batch_size=32",
    "data.val.batch_size=64",
    "trainer.log_every_n_steps=1",
]


def _command(
    run_dir: Path, overrides: list[str], write_delay: float, step_delay: float
) -> list[str]:
    return [
        sys.executable,
        str(CHILD),
        "--progress",
        str(_progress_file(run_dir)),
        "--write-delay",
        str(write_delay),
        "--step-delay",
        str(step_delay),
        "--",
        str(CONFIG),
        f"+manager.run_dir={run_dir}",
        "+trainer.enable_progress_bar=false",
        *overrides,
    ]


def _env() -> dict[str, str]:
    # one thread in every run: the same reductions in the same order, run after run
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}


def _start(command: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as out:
        return subprocess.Popen(
            command, env=_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _run_to_end(command: list[str], log_file: Path, timeout: float) -> int:
    process = _start(command, log_file)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return -999


def _progress_file(run_dir: Path) -> Path:
    return run_dir.with_name(run_dir.name + ".step")


def _interrupt(
    command: list[str],
    run_dir: Path,
    log_file: Path,
    signum: int,
    step: int,
    in_write: bool,
    timeout: float,
) -> dict[str, Any]:
    """Start the run, send ``signum`` at ``step`` (or during the write of its checkpoint)."""
    progress = _progress_file(run_dir)
    writing = progress.with_name(progress.name + ".writing")
    process = _start(command, log_file)
    sent_at: int | None = None
    start = time.monotonic()
    while process.poll() is None and time.monotonic() - start < timeout:
        reached = _read_int(writing) if in_write else _read_int(progress)
        if reached is not None and reached >= step:
            sent_at = reached
            os.killpg(process.pid, signum)
            break
        time.sleep(0.01)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        code = process.wait()
    return {"signal_sent_at_step": sent_at, "exit_code": code}


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a, b)
        )
        return None if same else where
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{where} (keys)"
        for key in a:
            found = _first_difference(a[key], b[key], f"{where}/{key}")
            if found is not None:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{where} (length)"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{where}/{i}")
            if found is not None:
                return found
        return None
    return None if a == b else where


def _csv_rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "logs" / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def compare(reference: Path, run_dir: Path) -> dict[str, Any]:
    """Which parts of ``run_dir``'s final state differ from ``reference``'s (None: equal)."""
    path = Path("checkpoints") / "last.ckpt"
    if not (run_dir / path).is_file():
        return {"identical": False, "difference": "no final checkpoint"}
    a = torch.load(reference / path, weights_only=True)
    b = torch.load(run_dir / path, weights_only=True)
    parts = {
        "weights": ("state_dict",),
        "optimizer": ("optimizer_states", "lr_schedulers"),
        "callbacks": ("callbacks",),
        "loops": ("loops", "global_step", "epoch"),
    }
    result: dict[str, Any] = {}
    for name, keys in parts.items():
        found = _first_difference({k: a.get(k) for k in keys}, {k: b.get(k) for k in keys})
        result[name] = found is None
        if found is not None:
            result.setdefault("difference", found)
    rows_a, rows_b = _csv_rows(reference), _csv_rows(run_dir)
    result["csv_rows"] = len(rows_b)
    result["csv"] = bool(rows_a) and rows_a == rows_b
    if not result["csv"]:
        result.setdefault("difference", f"metrics.csv ({len(rows_b)} rows, {len(rows_a)} expected)")
    result["identical"] = all(result[k] for k in (*parts, "csv"))
    return result


def _plan(trials: int, seed: int, total: int, every: int) -> list[dict[str, Any]]:
    """Signal, step and write timing of each trial: every signal once in each block of three."""
    rng = random.Random(seed)
    writes = [*range(every, total, every), total]  # periodic ones and the final one
    plan = []
    for i in range(trials):
        if i % 3 == 0:
            block = list(SIGNALS)
            rng.shuffle(block)
        in_write = i % 3 == 2
        step = rng.choice(writes) if in_write else rng.randint(1, total - 1)
        plan.append({"trial": i + 1, "signal": block[i % 3], "step": step, "in_write": in_write})
    return plan


def run(args: argparse.Namespace) -> dict[str, Any]:
    overrides = [*(TINY if args.tiny else []), f"manager.ckpt_every_n_steps={args.ckpt_every}"]
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="spt_faults_"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    reference = work / "reference"
    command = _command(reference, overrides, 0.0, 0.0)
    code = _run_to_end(command, work / "reference.log", args.timeout)
    if code != 0:
        raise SystemExit(f"the uninterrupted run failed ({code}); see {work / 'reference.log'}")
    total = int(
        torch.load(reference / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    )
    step_delay = args.step_delay if args.step_delay is not None else (0.3 if args.tiny else 0.0)
    rows = []
    for trial in _plan(args.trials, args.seed, total, args.ckpt_every):
        run_dir = work / f"trial{trial['trial']:02d}"
        log_file = work / f"trial{trial['trial']:02d}.log"
        signum = int(trial["signal"])
        first = _command(run_dir, overrides, args.write_delay, step_delay)
        outcome = _interrupt(
            first, run_dir, log_file, signum, trial["step"], trial["in_write"], args.timeout
        )
        saved = run_dir / "checkpoints" / "last.ckpt"
        resumed_from = (
            int(torch.load(saved, weights_only=True)["global_step"]) if saved.is_file() else 0
        )
        resume_code = _run_to_end(_command(run_dir, overrides, 0.0, 0.0), log_file, args.timeout)
        checked = compare(reference, run_dir) if resume_code == 0 else {"identical": False}
        row = {
            "trial": trial["trial"],
            "signal": signal.Signals(signum).name,
            "step": trial["step"],
            "signal_sent_at_step": outcome["signal_sent_at_step"],
            "during_write": trial["in_write"],
            "exit_code": outcome["exit_code"],
            "resumed_from_step": resumed_from,
            "resume_exit_code": resume_code,
            **checked,
        }
        rows.append(row)
        print(_row_line(row), flush=True)
        if not args.keep and row["identical"]:
            shutil.rmtree(run_dir, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(reference, ignore_errors=True)
    return {
        "command": " ".join(["python benchmarks/faults.py", *sys.argv[1:]]),
        "example": " ".join(["spt", str(CONFIG.relative_to(ROOT)), *overrides]),
        "total_steps": total,
        "seed": args.seed,
        "write_delay_s": args.write_delay,
        "step_delay_s": step_delay,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "work_dir": str(work),
        "identical": sum(r["identical"] for r in rows),
        "trials": rows,
    }


def _row_line(row: dict[str, Any]) -> str:
    return (
        f"trial {row['trial']:>2}: {row['signal']:<7} at step {row['signal_sent_at_step']}"
        f"{' (during a checkpoint write)' if row['during_write'] else ''}, "
        f"exit {row['exit_code']}, "
        f"resumed from {row['resumed_from_step']}: "
        f"{'identical' if row['identical'] else 'DIFFERENT ' + str(row.get('difference'))}"
    )


def table(report: dict[str, Any]) -> str:
    """The Markdown table of the trials."""
    rows = [
        {
            "trial": r["trial"],
            "signal": r["signal"],
            "step": r["signal_sent_at_step"],
            "during write": "yes" if r["during_write"] else "no",
            "exit code": r["exit_code"],
            "resumed from": r["resumed_from_step"],
            "weights": "same" if r.get("weights") else "differ",
            "optimizer": "same" if r.get("optimizer") else "differ",
            "metrics.csv": "same" if r.get("csv") else "differs",
            "identical": "yes" if r["identical"] else "no",
        }
        for r in report["trials"]
    ]
    return markdown_table(rows, list(rows[0]) if rows else ["trial"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, required=True, help="interrupted runs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the signals and steps")
    parser.add_argument("--tiny", action="store_true", help="2 epochs of 4 small batches")
    parser.add_argument(
        "--ckpt-every", type=int, help="manager.ckpt_every_n_steps (default 20; tiny: 2)"
    )
    parser.add_argument("--write-delay", type=float, default=2.0, help="seconds a write stays open")
    parser.add_argument("--step-delay", type=float, help="seconds after each step (tiny: 0.3)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--work", help="folder for the runs (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/faults.json")
    args = parser.parse_args()
    if args.trials < 1:
        parser.error(f"--trials must be at least 1, got {args.trials}")
    if args.ckpt_every is None:
        args.ckpt_every = 2 if args.tiny else 20
    if args.ckpt_every < 1:
        parser.error(f"--ckpt-every must be at least 1, got {args.ckpt_every}")
    report = run(args)
    print(table(report))
    print(
        f"{report['identical']} of {len(report['trials'])} resumed runs identical to the "
        f"uninterrupted one; {report['wall_seconds']} s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
