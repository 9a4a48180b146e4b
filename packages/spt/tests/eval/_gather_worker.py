"""One rank of the 2-process gather test: its DistributedSampler share, gathered, de-duplicated."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler


class _GlooStrategy:
    root_device = torch.device("cpu")

    @staticmethod
    def all_gather(tensor: torch.Tensor) -> torch.Tensor:
        every = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(every, tensor.contiguous())
        return torch.stack(every)


class _Trainer:
    strategy = _GlooStrategy()

    @property
    def world_size(self) -> int:
        return dist.get_world_size()


def run(rank: int, world: int, n: int, out_dir: str, port: str) -> None:
    from spt.eval._gather import gather_features

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False)
        indices = torch.tensor(list(sampler))  # padded: the last samples repeat
        parts: list[dict[str, Any]] = []
        for chunk in indices.split(2):  # batches of 2
            parts.append(
                {
                    "embedding": chunk[:, None].float() * torch.ones(1, 3),
                    "label": chunk % 3,
                    "sample_idx": chunk,
                }
            )
        features = gather_features(_Trainer(), parts)  # type: ignore[arg-type]
        torch.save(
            {"local": indices, "features": features.__dict__}, Path(out_dir) / f"rank{rank}.pt"
        )
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through torch.multiprocessing.spawn")
