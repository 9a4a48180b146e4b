"""A ViT-S/16 training step of I-JEPA and DINOv2: SDPA or naive attention, torch.compile off/on.

The measurement is section 6 of the GPU suite (``_gpu_suite_vit.py``, sizes in
``_gpu_suite_sizes.py``), run alone: steps/s and peak memory of ``spt.methods.ijepa`` (batch
64 at 224 px) and ``spt.methods.dinov2`` (batch 32, 2 x 224 px + 8 x 96 px crops) on a
ViT-S/16 under bf16 autocast. ``--toy`` runs the same code at the suite's dry-run sizes on the
CPU (a 2-block ViT of width 32 at 32 px, batch 8, 2 warm-up and 3 timed steps); its figures
say the script works, not how fast a ViT trains. The device's name is recorded with them.

    uv run --no-sync python benchmarks/vit_step.py                        # on a GPU
    OMP_NUM_THREADS=1 uv run --no-sync python benchmarks/vit_step.py --toy  # on the CPU
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import lightning as pl
import torch
from _common import markdown_table
from _gpu_suite_sizes import Sizes
from _gpu_suite_timing import describe
from _gpu_suite_vit import METHODS, vit_step
from gpu_suite import format_cell

RESULTS = Path(__file__).resolve().parent / "results"


def markdown(report: dict[str, Any]) -> str:
    meta, section = report["meta"], report["section"]
    rows = [{c: format_cell(r.get(c)) for c in section["columns"]} for r in section["rows"]]
    toy = " (toy sizes on the CPU)" if meta["toy"] else ""
    return "\n".join(
        [
            f"# ViT step (I-JEPA, DINOv2){toy}",
            "",
            f"Device: {meta['device']}; torch {meta['torch']}, lightning {meta['lightning']}, "
            f"Python {meta['python']}; {meta['wall_s']} s in all.",
            f"Command: `{meta['command']}`",
            "",
            f"## {section['title']}",
            "",
            markdown_table(rows, section["columns"]),
            "",
            *(f"Note: {n}" for n in section["notes"]),
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="tiny ViT on the CPU (a few steps)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (toy: 1)")
    parser.add_argument("--out", type=Path, default=RESULTS / "vit_step.json", help=".md beside")
    args = parser.parse_args(argv)
    args.methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(f"--methods: unknown {unknown}; choose from {list(METHODS)}")
    if args.device is None:
        args.device = "cpu" if args.toy or not torch.cuda.is_available() else "cuda"
    if args.device == "cpu" and not args.toy:
        parser.error(
            "--device cpu: a ViT-S/16 step at 224 px takes minutes on a CPU; pass --toy for "
            "the tiny sizes, or run on a GPU"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = args.threads or (1 if args.toy else None)
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(args.device)
    sizes = Sizes.dry() if args.toy else Sizes.full()
    start = time.perf_counter()
    section = vit_step(sizes, device, args.methods)
    report = {
        "meta": {
            "device": describe(device),
            "toy": args.toy,
            "torch": torch.__version__,
            "lightning": pl.__version__,
            "python": platform.python_version(),
            "command": "uv run --no-sync python benchmarks/vit_step.py "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "wall_s": round(time.perf_counter() - start, 1),
        },
        "section": section,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    args.out.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    failed = [r for r in section["rows"] if r["status"] != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
