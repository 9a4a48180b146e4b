"""Offline evaluation of the main example: kNN, linear and fine-tune, trained vs random init.

Trains ``spt examples/simclr_digits.yaml`` in a subprocess (as benchmarks/example_digits.py
does), then runs ``spt.eval.knn``, ``spt.eval.linear`` and ``spt.eval.finetune`` with the
settings of ``examples/digits_eval.yaml`` on the trained backbone and on the same backbone at
its seeded initial weights, and puts the online monitors' final values (from the run's CSV
log) beside the offline numbers.

    uv run --no-sync python benchmarks/eval_digits.py            # the example as shipped
    uv run --no-sync python benchmarks/eval_digits.py --quick    # 2 epochs, short protocols

Writes benchmarks/results/eval_digits.json and benchmarks/results/eval_digits.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_threads_argument, markdown_table
from example_digits import _backbone, _train

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "examples" / "digits_eval.yaml"
QUICK = ["linear.epochs=20", "linear.lrs=[0.1,1.0]", "finetune.epochs=2"]


def _online(run_dir: Path) -> dict[str, float]:
    """The last logged value of the online monitors in the run's CSV log."""
    last: dict[str, float] = {}
    with open(run_dir / "logs" / "metrics.csv") as file:
        for row in csv.DictReader(file):
            for key in ("knn/val/top1", "linear_probe/val/top1"):
                if row.get(key):
                    last[key] = float(row[key])
    return last


def _evaluate(weights: Path, run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    import spt

    results: dict[str, Any] = {}
    for protocol in ("knn", "linear", "finetune"):
        start = time.perf_counter()
        args = [f"weights={weights}", f"run_dir={run_dir}", *overrides]
        result = spt.eval.run(protocol, EVAL, args)
        result["seconds"] = round(time.perf_counter() - start, 1)
        results[protocol] = result
    return results


def _rows(results: dict[str, dict[str, Any]], online: dict[str, float]) -> list[dict[str, Any]]:
    trained, random = results["trained"], results["random_init"]

    def pair(protocol: str, metric: str) -> tuple[str, str]:
        return (
            f"{trained[protocol]['metrics'][metric]:.3f}",
            f"{random[protocol]['metrics'][metric]:.3f}",
        )

    rows = []
    for k in trained["knn"]["k"]:
        t, r = pair("knn", f"knn/top1_k{k}")
        note = f"online knn/val/top1 (k=20): {online['knn/val/top1']:.3f}" if k == 20 else ""
        rows.append({"protocol": f"kNN k={k}", "SimCLR": t, "random init": r, "online": note})
    lin = trained["linear"]
    t, r = pair("linear", "linear/top1")
    rows.append(
        {
            "protocol": f"linear (lr {lin['lr']}, wd {lin['weight_decay']})",
            "SimCLR": t,
            "random init": r
            + f" (lr {random['linear']['lr']}, wd {random['linear']['weight_decay']})",
            "online": f"online linear_probe/val/top1: {online['linear_probe/val/top1']:.3f}",
        }
    )
    t, r = pair("finetune", "finetune/top1")
    epochs = trained["finetune"]["epochs"]
    rows.append(
        {"protocol": f"fine-tune ({epochs} epochs)", "SimCLR": t, "random init": r, "online": ""}
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs and short protocols")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/eval_digits.json")
    add_threads_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_overrides = ["trainer.max_epochs=2"] if args.quick else []
    eval_overrides = QUICK if args.quick else []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        seconds, cpu, _ = _train(run_dir, [*train_overrides, "+trainer.enable_progress_bar=false"])
        random_dir = Path(tmp) / "random_init"
        random_dir.mkdir()
        torch.save(_backbone(train_overrides).state_dict(), random_dir / "backbone.pt")
        results = {
            "trained": _evaluate(run_dir, run_dir, eval_overrides),
            "random_init": _evaluate(random_dir, random_dir, eval_overrides),
        }
        online = _online(run_dir)
    rows = _rows(results, online)
    table = markdown_table(rows, ["protocol", "SimCLR", "random init", "online"])
    print(table)
    command = " ".join(["python benchmarks/eval_digits.py", *(["--quick"] if args.quick else [])])
    report = {
        "command": command,
        "example": f"spt examples/simclr_digits.yaml {' '.join(train_overrides)}".strip(),
        "eval_config": "examples/digits_eval.yaml " + " ".join(eval_overrides),
        "train_wall_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu, 1),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "online": online,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md = args.out.with_suffix(".md")
    md.write_text(
        "# eval_digits: offline evaluation of the main example\n\n"
        f"Command: `uv run --no-sync {command}`\n\n{table}\n"
    )
    print(f"wrote {args.out} and {md}")


if __name__ == "__main__":
    main()
