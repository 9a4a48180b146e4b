"""One OnlineKNN validation pass: Q queries against queues of 20,000 and 1,000,000 entries.

Times `spt_callbacks.knn_predict` (chunked: at most `max_elements` similarities at once, a
running top-k merged across chunks) and, where it fits, the whole-matrix kNN that builds
the (Q, N) similarity matrix at once (what lightly does). Peak memory is the extra memory
of the call: `torch.cuda.max_memory_allocated` on GPU; on CPU, each measurement runs in a
fresh subprocess and reports its peak RSS (`ru_maxrss`) above the RSS it had just before
the call (queue and queries already allocated). Wall and process-CPU seconds are both
reported: on a shared CPU the CPU time is the steadier figure.

    uv run --no-sync python benchmarks/knn.py            # 10,000 queries, D=256
    uv run --no-sync python benchmarks/knn.py --quick    # 1,000 queries, D=128
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from spt_callbacks import knn_predict

QUEUES = [20_000, 1_000_000]
NUM_CLASSES = 100
K = 20
RESULTS = Path(__file__).resolve().parent / "results"


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def whole_matrix_knn(queries, bank, labels, num_classes, k, temperature):  # type: ignore[no-untyped-def]
    """The unchunked reference: the full (Q, N) cosine-similarity matrix, then top-k."""
    sims = F.normalize(queries, dim=1) @ F.normalize(bank, dim=1).T  # (Q, N)
    top, idx = sims.topk(k, dim=1)
    weights = ((top - top[:, :1]) / temperature).exp()
    votes = torch.zeros(queries.shape[0], num_classes, device=queries.device)
    votes.scatter_add_(1, labels[idx], weights)
    return votes / votes.sum(1, keepdim=True)


def measure(method: str, n_queries: int, queue: int, dim: int, device: str, repeats: int) -> dict:
    """Time (best of `repeats`) and peak extra memory of one validation pass."""
    gen = torch.Generator(device=device).manual_seed(0)
    bank = torch.randn(queue, dim, device=device, generator=gen)
    labels = torch.randint(0, NUM_CLASSES, (queue,), device=device, generator=gen)
    queries = torch.randn(n_queries, dim, device=device, generator=gen)

    def run() -> torch.Tensor:
        if method == "chunked":
            return knn_predict(queries, bank, labels, NUM_CLASSES, k=K)
        return whole_matrix_knn(queries, bank, labels, NUM_CLASSES, K, 0.07)

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_bytes()
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {
        "seconds": min(times),
        "cpu_seconds": min(cpu_times),
        "peak_extra_mib": max(peak, 0) / 2**20,
    }


def _child(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    result = measure(args.method, args.queries, args.queue, args.dim, args.device, args.repeats)
    print(json.dumps(result))


def _run_in_subprocess(method: str, queue: int, args: argparse.Namespace, device: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--method",
        method,
        "--queue",
        str(queue),
        "--queries",
        str(args.queries),
        "--dim",
        str(args.dim),
        "--device",
        device,
        "--repeats",
        str(args.repeats),
        "--threads",
        str(args.threads),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 queries, D=128")
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--dim", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--whole-limit-gib",
        type=float,
        default=1.0,
        help="skip the whole-matrix kNN when its (Q, N) matrix is larger",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="chunked", help=argparse.SUPPRESS)
    parser.add_argument("--queue", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.queries = args.queries or (1_000 if args.quick else 10_000)
    args.dim = args.dim or (128 if args.quick else 256)
    args.repeats = args.repeats or 1
    if args.child:
        _child(args)
        return

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for queue in QUEUES:
            for method in ("chunked", "whole-matrix"):
                matrix_gib = args.queries * queue * 4 / 2**30
                if method == "whole-matrix" and matrix_gib > args.whole_limit_gib:
                    rows.append(
                        {
                            "device": device,
                            "queue": queue,
                            "method": method,
                            "seconds": None,
                            "cpu_seconds": None,
                            "peak_extra_mib": None,
                            "note": f"skipped: (Q, N) matrix is {matrix_gib:.1f} GiB",
                        }
                    )
                    continue
                result = _run_in_subprocess(method, queue, args, device)
                rows.append(
                    {"device": device, "queue": queue, "method": method, **result, "note": ""}
                )
                print(rows[-1], flush=True)

    header = (
        f"{'device':6} {'queue':>9} {'method':13} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}  note"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        sec = "-" if r["seconds"] is None else f"{r['seconds']:.2f}"
        cpu = "-" if r["cpu_seconds"] is None else f"{r['cpu_seconds']:.2f}"
        mib = "-" if r["peak_extra_mib"] is None else f"{r['peak_extra_mib']:.0f}"
        lines.append(
            f"{r['device']:6} {r['queue']:>9,} {r['method']:13} {sec:>8} {cpu:>8} {mib:>9}"
            f"  {r['note']}"
        )
    table = "\n".join(lines)
    print(
        f"\n{args.queries:,} queries, D={args.dim}, k={K}, {NUM_CLASSES} classes, "
        f"torch threads={args.threads}\n{table}"
    )
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "command": "uv run --no-sync python benchmarks/knn.py" + (" --quick" if args.quick else ""),
        "queries": args.queries,
        "dim": args.dim,
        "k": K,
        "num_classes": NUM_CLASSES,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    (RESULTS / "knn.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
