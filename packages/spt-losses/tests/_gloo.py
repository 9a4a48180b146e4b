"""Runs a computation in several gloo processes on the CPU and returns each rank's result.

The processes meet through a file store in a fresh directory, not a TCP port: no port can be
taken by another program between choosing it and binding it, and concurrent test runs on one
machine cannot meet each other. Each rank saves its result atomically (complete or absent).
The ranks are forked by a fork server that imported torch and spt_losses once per test
session: a spawned interpreter would import torch again for every rank of every test.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

try:  # the workspace's one fork server (it also preloads Lightning for the module tests)
    from spt_module.testing import forkserver_context

    forkserver_context()
except ImportError:  # spt-losses tested on its own
    preload = ["torch", "torch.distributed", "spt_losses"]
    mp.get_context("forkserver").set_forkserver_preload(preload)


def _run(rank: int, world: int, out_dir: str, compute: Callable[[int, int], Any]) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{Path(out_dir) / 'store'}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=120),
    )
    try:
        result = compute(rank, world)
        partial = Path(out_dir) / f"rank{rank}.pt.partial"
        torch.save(result, partial)
        partial.rename(Path(out_dir) / f"rank{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def spawn_gloo(compute: Callable[[int, int], Any], out_dir: Path, world: int = 2) -> list[Any]:
    """`compute(rank, world)` in `world` gloo processes; the list of their results by rank.

    `compute` must be picklable (a module-level function, or a `functools.partial` of one)
    and `out_dir` a fresh directory.
    """
    mp.start_processes(
        _run, args=(world, str(out_dir), compute), nprocs=world, start_method="forkserver"
    )
    return [torch.load(out_dir / f"rank{r}.pt") for r in range(world)]
