"""The GPU suite: every speed target of spt measured in one process, as JSON and a Markdown table.

Sections (the sizes are in ``_gpu_suite_sizes.py``):

1. SimCLR ResNet-18 step at 32x32, 256 x 2 views, bf16: a raw loop, a plain LightningModule,
   spt.Module, spt.Module with OnlineProbe + OnlineKNN + RankMe, and spt end to end from uint8
   images with GPU augmentation through a DataLoader and through device-resident data; each
   eager, channels_last, compiled and both (``_gpu_suite_step.py``).
   Targets: spt.Module >= 0.97 of raw; with the callbacks >= 0.95 of spt.Module; end to end
   with device-resident data and the callbacks >= 1.0 of raw.
2. Two-view augmentation at 32x32 (batch 512) and 224x224 (batch 128): views/s (target
   >= 150,000 at 32x32).
3. NT-Xent forward + backward at 4096 x 128 and 4096 x 2048 against the naive formula
   (target >= 2x).
4. kNN over a 1,000,000-entry queue: time and peak memory per 10,000 queries.
5. One step of every method of spt.methods at its defaults: steps/s and peak memory.
6. A ViT-S/16 step of I-JEPA (batch 64) and DINOv2 (batch 32, 2 x 224 + 8 x 96 px crops) at
   224 px, SDPA or naive attention, compile off or on: steps/s and peak memory
   (``_gpu_suite_vit.py``; ``vit_step.py`` runs it alone).

``--dry-run`` runs every section at toy size on the CPU (under a minute on an idle 2-core
machine; a test runs it). The device's name, torch and lightning versions and the command are
recorded; ratios are only computed between measurements of the same process.

    uv run --no-sync python benchmarks/gpu_suite.py                # on a GPU (1-5: under 8 min)
    uv run --no-sync python benchmarks/gpu_suite.py --dry-run      # toy sizes on the CPU
    uv run --no-sync python benchmarks/gpu_suite.py --sections 2,3 --grid eager,compile
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as pl
import torch
from _common import markdown_table
from _gpu_suite_kernels import augmentation, knn, ntxent
from _gpu_suite_methods import methods
from _gpu_suite_sizes import Sizes
from _gpu_suite_step import GRID, step
from _gpu_suite_timing import describe
from _gpu_suite_vit import vit_step

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "1": step,
    "2": augmentation,
    "3": ntxent,
    "4": knn,
    "5": methods,
    "6": vit_step,
}


def run_section(
    key: str, sizes: Sizes, device: torch.device, grid: tuple[str, ...] | None
) -> dict[str, Any]:
    """One section's result; a failure is recorded (with its traceback) instead of raised."""
    start = time.perf_counter()
    try:
        kwargs = {"grid": grid} if key == "1" else {}
        result = SECTIONS[key](sizes, device, **kwargs)
    except Exception as error:
        result = {
            "title": f"{key}. (failed)",
            "error": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc(),
        }
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def format_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_target(t: dict[str, Any]) -> str:
    verdict = {True: "met", False: "NOT met", None: "not judged (toy size)"}[t["met"]]
    return f"- {t['name']}: {t['value']} (target >= {t['threshold']}): {verdict}"


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        f"# GPU suite{' (dry run, toy sizes on the CPU)' if meta['dry_run'] else ''}",
        "",
        f"Device: {meta['device']}; torch {meta['torch']}, lightning {meta['lightning']}, "
        f"Python {meta['python']}; {meta['wall_s']} s in all.",
        f"Command: `{meta['command']}`",
    ]
    for key, section in report["sections"].items():
        lines += ["", f"## {section['title']}", ""]
        if "error" in section:
            lines.append(f"Failed after {section['seconds']} s: {section['error']}")
            continue
        rows = [{c: format_cell(r.get(c)) for c in section["columns"]} for r in section["rows"]]
        lines.append(markdown_table(rows, section["columns"]))
        if section["targets"]:
            lines += ["", *map(format_target, section["targets"])]
        lines += ["", *(f"Note: {n}" for n in section["notes"])]
        lines.append(f"Section {key} took {section['seconds']} s.")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on the CPU")
    parser.add_argument("--sections", default="1,2,3,4,5,6", help="comma-separated, e.g. 2,3")
    parser.add_argument(
        "--grid",
        default=None,
        help=f"option sets of section 1, from {list(GRID)} (default: all four; the dry run: "
        "eager and channels_last+compile)",
    )
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (the dry run: 1)"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON path (.md beside it)")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"--sections: unknown {unknown}; choose from {sorted(SECTIONS)}")
    if args.grid is not None:
        args.grid = tuple(g.strip() for g in args.grid.split(",") if g.strip())
        bad = [g for g in args.grid if g not in GRID]
        if bad:
            parser.error(f"--grid: unknown {bad}; choose from {list(GRID)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = args.threads or (1 if args.dry_run else None)
    if threads:  # one thread: on a shared CPU a second mostly spins
        torch.set_num_threads(threads)
    device = torch.device(
        args.device or ("cpu" if args.dry_run or not torch.cuda.is_available() else "cuda")
    )
    sizes = Sizes.dry() if args.dry_run else Sizes.full()
    out = args.out or RESULTS / ("gpu_suite_dry_run.json" if args.dry_run else "gpu_suite.json")
    start = time.perf_counter()
    sections = {}
    for key in args.sections:
        print(f"section {key} ...", flush=True)
        sections[key] = run_section(key, sizes, device, args.grid)
        if "error" in sections[key]:
            print(sections[key]["traceback"], file=sys.stderr)
    report = {
        "meta": {
            "device": describe(device),
            "dry_run": args.dry_run,
            "torch": torch.__version__,
            "lightning": pl.__version__,
            "python": platform.python_version(),
            "command": "uv run --no-sync python benchmarks/gpu_suite.py "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "wall_s": round(time.perf_counter() - start, 1),
        },
        "sections": sections,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    out.with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {out} and {out.with_suffix('.md')}")
    failed = [k for k, s in sections.items() if "error" in s]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
