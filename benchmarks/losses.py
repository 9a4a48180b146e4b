"""Forward+backward time of spt_losses.NTXEntLoss against NT-Xent as it is often written.

The `broadcast` baseline is the textbook NT-Xent (cosine-similarity matrix, exp of the full
matrix, float mask, log of a ratio) with the similarities computed by broadcasting to a
(2B, 2B, D) tensor, so it is run only where that tensor fits under
`--broadcast-limit-gib`; the `naive` column keeps the same formula but computes
the cosine-similarity matrix of the normalised rows as one matmul, and runs everywhere.
Ratios are baseline time / ours (> 1: ours is faster); each cell is the median over
repeats, the variants taking turns within a repeat.

On CPU the default is one torch thread and the process's CPU time (`--clock process`):
on a machine shared with other jobs, wall-clock time mostly measures the other jobs. On
CUDA the default is wall-clock time after a synchronize.

    uv run --no-sync python benchmarks/losses.py            # full run
    uv run --no-sync python benchmarks/losses.py --quick    # fewer repeats
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses import NTXEntLoss
from spt_losses._similarity import GRAM_MAX_ROWS, GRAM_MIN_DIM

BATCHES = [256, 1024, 4096]
DIMS = [128, 2048]
TEMPERATURE = 0.5


def _cosine_by_broadcasting(z: Tensor) -> Tensor:
    """All pairwise cosine similarities through a (N, N, D) tensor: (N, D) -> (N, N)."""
    return F.cosine_similarity(z.unsqueeze(1), z.unsqueeze(0), dim=2)


def _cosine_by_matmul(z: Tensor) -> Tensor:
    """The same matrix as one matmul of the (already unit) rows: (N, D) -> (N, N)."""
    return z @ z.T


class BroadcastNTXentLoss(nn.Module):
    """NT-Xent as tutorials often write it: exp of the whole similarity matrix, a float mask
    that removes the diagonal, and the log of a ratio; similarities by broadcasting."""

    similarity = staticmethod(_cosine_by_broadcasting)

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        n = z1.shape[0]
        z = torch.cat([F.normalize(z1, dim=1), F.normalize(z2, dim=1)])  # (2B, D)
        sim = self.similarity(z)  # (2B, 2B)
        positives = torch.cat([sim.diagonal(n), sim.diagonal(-n)])  # (2B,)
        off_diagonal = (~torch.eye(2 * n, dtype=torch.bool, device=z.device)).float()
        denominator = (off_diagonal * torch.exp(sim / self.temperature)).sum(dim=1)
        return -torch.log(torch.exp(positives / self.temperature) / denominator).mean()


class NaiveNTXentLoss(BroadcastNTXentLoss):
    """The same formula with the similarity matrix as one matmul."""

    similarity = staticmethod(_cosine_by_matmul)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _fwd_bwd(
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    z1: Tensor,
    z2: Tensor,
    clock: Callable[[], float],
) -> tuple[float, float]:
    """Seconds of one forward+backward, and the loss value."""
    a = z1.detach().requires_grad_()
    b = z2.detach().requires_grad_()
    _sync(a.device)
    start = clock()
    loss = loss_fn(a, b)
    loss.backward()
    _sync(a.device)
    elapsed = clock() - start
    return elapsed, loss.item()


def time_fwd_bwd(
    loss_fns: dict[str, Callable[[Tensor, Tensor], Tensor]],
    z1: Tensor,
    z2: Tensor,
    repeats: int,
    warmup: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, tuple[float, float]]:
    """Median seconds of one forward+backward and the loss value, per variant.

    The variants take turns within each repeat, so a burst of load from other processes
    on a shared machine hits all of them rather than one.
    """
    times: dict[str, list[float]] = {name: [] for name in loss_fns}
    values: dict[str, float] = {}
    for i in range(warmup + repeats):
        for name, fn in loss_fns.items():
            elapsed, values[name] = _fwd_bwd(fn, z1, z2, clock)
            if i >= warmup:
                times[name].append(elapsed)
    return {name: (statistics.median(times[name]), values[name]) for name in loss_fns}


def plan(batch: int, dim: int, quick: bool, device: torch.device) -> tuple[int, int]:
    """(repeats, warmup) for one size; the largest sizes get 1-2 repeats on CPU."""
    heavy = device.type == "cpu" and batch * dim >= 4096 * 2048
    if heavy:
        return (1, 0) if quick else (2, 0)
    if quick:
        return (2 if device.type == "cpu" and batch >= 4096 else 3), 1
    return (3 if device.type == "cpu" and batch >= 4096 else 10), 1


def format_table(rows: list[dict[str, object]]) -> str:
    header = ["batch", "dim", "ours ms", "naive ms", "naive/ours", "broadcast ms", "broadcast/ours"]
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for r in rows:

        def ms(key: str, row: dict[str, object] = r) -> str:
            v = row.get(key)
            return "skipped" if v is None else f"{1000 * float(str(v)):.1f}"

        def ratio(key: str, row: dict[str, object] = r) -> str:
            v = row.get(key)
            return "-" if v is None else f"{float(str(v)):.2f}x"

        lines.append(
            " | ".join(
                [
                    str(r["batch"]),
                    str(r["dim"]),
                    ms("ours_s"),
                    ms("naive_s"),
                    ratio("naive_over_ours"),
                    ms("broadcast_s"),
                    ratio("broadcast_over_ours"),
                ]
            )
        )
    return "\n".join(f"| {line} |" for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--broadcast-limit-gib",
        type=float,
        default=1.0,
        help="run the broadcast baseline only where its (2B, 2B, D) tensor is smaller",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: on a shared machine more threads mostly add "
        "scheduling noise)",
    )
    parser.add_argument(
        "--clock",
        choices=["process", "wall"],
        default=None,
        help="process: CPU seconds of this process (default on CPU: a shared machine's load "
        "then shows far less); wall: elapsed seconds (default on CUDA, after a synchronize)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "losses.json"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    clock_name = args.clock or ("wall" if device.type == "cuda" else "process")
    clock = time.perf_counter if clock_name == "wall" else time.process_time

    load_at_start = os.getloadavg()[0]
    ours = NTXEntLoss(TEMPERATURE)
    naive = NaiveNTXentLoss(TEMPERATURE)
    broadcast = BroadcastNTXentLoss(TEMPERATURE)
    rows: list[dict[str, object]] = []
    for batch in BATCHES:
        for dim in DIMS:
            gen = torch.Generator().manual_seed(batch + dim)
            z1 = torch.randn(batch, dim, generator=gen).to(device)
            z2 = torch.randn(batch, dim, generator=gen).to(device)
            repeats, warmup = plan(batch, dim, args.quick, device)
            variants: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
                "ours": ours,
                "naive": naive,
            }
            if (2 * batch) ** 2 * dim * 4 / 2**30 <= args.broadcast_limit_gib:
                variants["broadcast"] = broadcast
            timed = time_fwd_bwd(variants, z1, z2, repeats, warmup, clock)
            ours_s, ours_value = timed["ours"]
            naive_s, naive_value = timed["naive"]
            broadcast_s = timed["broadcast"][0] if "broadcast" in timed else None
            row: dict[str, object] = {
                "batch": batch,
                "dim": dim,
                "repeats": repeats,
                "ours_s": ours_s,
                "naive_s": naive_s,
                "naive_over_ours": naive_s / ours_s,
                "abs_diff_loss": abs(ours_value - naive_value),
                "broadcast_s": broadcast_s,
                "broadcast_over_ours": None if broadcast_s is None else broadcast_s / ours_s,
            }
            rows.append(row)
            print(
                f"batch {batch:5d} dim {dim:5d}: ours {1000 * ours_s:9.1f} ms, "
                f"naive {1000 * naive_s:9.1f} ms ({naive_s / ours_s:.2f}x)",
                flush=True,
            )

    table = format_table(rows)
    print(
        f"median {clock_name} time of one forward+backward, {device}, "
        f"{torch.get_num_threads()} thread(s), temperature {TEMPERATURE}"
    )
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "NTXEntLoss forward+backward vs a naive and a broadcast NT-Xent",
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "clock": clock_name,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_start": load_at_start,
        "gram_path": f"one process, rows <= {GRAM_MAX_ROWS} or dim >= {GRAM_MIN_DIM}",
        "quick": args.quick,
        "temperature": TEMPERATURE,
        "rows": rows,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
