"""Fixed per-step work of OnlineProbe, OnlineKNN and RankMe, before and after a change, in one run.

The workload of ``step_overhead.py`` (MLP 32-64-64 + linear head, batch 64, SGD, on the CPU)
trains under two versions of ``spt_callbacks``: the working tree's (``after``) and the one
of the git revision ``--before`` (``before``; default: the commit before the per-step cuts
of the probe, the queue and RankMe), which ``git archive`` extracts into a temporary folder.
A process imports one ``spt_callbacks``, so each version runs in subprocesses of this
script (``PYTHONPATH`` points at the extracted sources for ``before``), and they alternate
(before, after, before, after, ...) so that load on a shared machine hits both alike.

Each subprocess fits once untimed (imports, first allocations), then times a fit of the
Module alone and a fit of the Module with OnlineProbe, OnlineKNN(20,000) and
RankMe(20,000): process-CPU time per step from step ``warmup`` to the last (so it holds the
data fetch and every hook), and inside the second fit the process-CPU time of each
callback's training-batch hooks. The ratio of the two step times is the throughput of the
Module with the three callbacks relative to the Module alone, the same ratio in both
versions of the same run; figures are medians over ``--repeats``.

    uv run --no-sync python benchmarks/callback_hooks.py               # 3 x 2 runs of 1,500 steps
    uv run --no-sync python benchmarks/callback_hooks.py --before HEAD~1 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
SOURCES = "packages/spt-callbacks/src"
BEFORE = "809af00e18929763b6fa37857f932ec425df4408"  # the last commit before the cuts
HOOKS = ("on_train_batch_start", "on_train_batch_end")


# ----------------------------------------------------------------------------- one version
def measure(steps: int) -> dict[str, Any]:
    """Time the Module alone and with the three callbacks under the imported spt_callbacks."""
    import torch
    from _step_overhead_variants import make_spt_module, monitor_callbacks, run_lightning
    from step_overhead import mlp_workload
    from torch.utils.data import DataLoader

    import spt_callbacks

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    work = mlp_workload(steps)
    loader = DataLoader(work["dataset"], batch_size=work["batch_size"], drop_last=True)
    warmup = max(10, steps // 10)
    monitors = monitor_callbacks(work)
    assert monitors is not None

    def module() -> Any:
        return make_spt_module(work)

    spent: dict[str, float] = {}

    def timed_callbacks() -> list[Any]:
        callbacks = monitors()
        for callback in callbacks:
            for hook in HOOKS:
                name = f"{type(callback).__name__}.{hook}"
                spent[name] = 0.0
                original = getattr(callback, hook)

                def timed(*args: Any, _fn: Any = original, _name: str = name) -> None:
                    start = time.process_time()
                    _fn(*args)
                    spent[_name] += time.process_time() - start

                setattr(callback, hook, timed)
        return callbacks

    run_lightning(module, work, loader, "cpu", warmup, monitors)  # untimed
    _, alone = run_lightning(module, work, loader, "cpu", warmup)
    _, monitored = run_lightning(module, work, loader, "cpu", warmup, timed_callbacks)
    return {
        "spt_callbacks": spt_callbacks.__file__,
        "module_ms": alone * 1e3,
        "monitored_ms": monitored * 1e3,
        "hooks_us": {name: seconds / steps * 1e6 for name, seconds in spent.items()},
    }


# ----------------------------------------------------------------------------- both versions
def extract(revision: str, folder: Path) -> Path:
    """The ``spt_callbacks`` sources of git ``revision``, under ``folder`` (read-only git)."""
    archive = folder / "before.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", revision, SOURCES], cwd=ROOT, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder / SOURCES


def run_child(steps: int, pythonpath: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--steps", str(steps)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repeats of one version."""
    module_ms = statistics.median(r["module_ms"] for r in runs)
    monitored_ms = statistics.median(r["monitored_ms"] for r in runs)
    hooks = {n: statistics.median(r["hooks_us"][n] for r in runs) for n in runs[0]["hooks_us"]}
    return {
        "spt_callbacks": runs[0]["spt_callbacks"],
        "module_cpu_ms_per_step": round(module_ms, 4),
        "monitored_cpu_ms_per_step": round(monitored_ms, 4),
        "throughput_monitored_vs_module": round(module_ms / monitored_ms, 3),
        "hooks_us_per_step": {n: round(us, 1) for n, us in hooks.items()},
        "hooks_us_per_step_total": round(sum(hooks.values()), 1),
        "ratios_of_repeats": [round(r["module_ms"] / r["monitored_ms"], 3) for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", default=BEFORE, help="git revision of the 'before' code")
    parser.add_argument("--out", type=Path, default=RESULTS / "callback_hooks.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.steps)))
        return
    load = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        before = extract(args.before, Path(tmp))
        for _ in range(args.repeats):
            runs["before"].append(run_child(args.steps, before))
            runs["after"].append(run_child(args.steps, None))
    versions = {name: summary(values) for name, values in runs.items()}
    print(f"{'':40s} {'before':>10s} {'after':>10s}")
    rows = [
        ("Module alone, CPU ms/step", "module_cpu_ms_per_step"),
        ("Module + 3 callbacks, CPU ms/step", "monitored_cpu_ms_per_step"),
        ("throughput, + 3 callbacks / alone", "throughput_monitored_vs_module"),
        ("callback hooks, us/step", "hooks_us_per_step_total"),
    ]
    for label, key in rows:
        print(f"{label:40s} {versions['before'][key]:>10} {versions['after'][key]:>10}")
    for hook in versions["after"]["hooks_us_per_step"]:
        values = [versions[v]["hooks_us_per_step"][hook] for v in ("before", "after")]
        print(f"  {hook:38s} {values[0]:>10} {values[1]:>10}")
    import torch

    meta = {
        "command": "uv run --no-sync python benchmarks/callback_hooks.py"
        + (f" --steps {args.steps}" if args.steps != 1500 else "")
        + (f" --repeats {args.repeats}" if args.repeats != 3 else ""),
        "before": args.before,
        "after": "working tree",
        "workload": "MLP 32-64-64 + linear head, batch 64, fp32, SGD; OnlineProbe(Linear(64, 10)), "
        "OnlineKNN(20,000), RankMe(20,000, every 100 steps)",
        "steps": args.steps,
        "repeats": args.repeats,
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "device": f"CPU ({os.cpu_count()} cores), 1 torch thread",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "note": "process-CPU time; versions alternate in subprocesses of one run; medians",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "versions": versions}, indent=2) + "\n")


if __name__ == "__main__":
    main()
