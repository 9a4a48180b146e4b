"""A sampler that repeats each index, for repeated augmentation."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

__all__ = ["RepeatedRandomSampler"]


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"RepeatedRandomSampler: {name} must be a positive int, got {value!r}")
    return value


class RepeatedRandomSampler(Sampler[int]):
    """Yield each index ``n_views`` times in a row, in a random order of indices per epoch.

    A batch of a single-view transform then holds ``n_views`` differently augmented copies of
    each sample, which :func:`~spt_data.fold_views` groups by ``sample_idx`` (choose a batch
    size that is a multiple of ``n_views``). Under DDP every rank draws the same permutation
    (from ``seed + epoch``) and takes every ``num_replicas``-th index from position ``rank``,
    so the shards are disjoint and together cover the dataset. The index list is padded by
    wrapping around to a multiple of ``num_replicas`` (or cut, with ``drop_last=True``).
    With Lightning, pass ``Trainer(use_distributed_sampler=False)`` so it does not shard the
    sampler again; Lightning calls :meth:`set_epoch` for you.

    Args:
        data_source: The dataset (anything with ``len``).
        n_views: Copies of each index per epoch.
        shuffle: Draw a random order of indices; ``False`` keeps ``0, 1, 2, ...``.
        seed: Base seed shared by all ranks.
        num_replicas: Number of ranks; default the world size if ``torch.distributed`` is
            initialised, else 1.
        rank: This rank; default the distributed rank, else 0.
        drop_last: Cut the tail instead of padding when the length does not divide evenly.

    Examples:
        >>> sampler = RepeatedRandomSampler(range(4), n_views=2, seed=0)
        >>> sorted(sampler)
        [0, 0, 1, 1, 2, 2, 3, 3]
    """

    def __init__(
        self,
        data_source: Sized,
        n_views: int = 2,
        *,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        if num_replicas is None:
            num_replicas = dist.get_world_size() if distributed else 1
        if rank is None:
            rank = dist.get_rank() if distributed else 0
        self.n_views = _positive_int("n_views", n_views)
        self.num_replicas = _positive_int("num_replicas", num_replicas)
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(
                f"RepeatedRandomSampler: rank must be in [0, {num_replicas - 1}] for "
                f"num_replicas={num_replicas}, got {rank!r}"
            )
        self.rank = rank
        self.data_source = data_source
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0
        n = len(data_source)
        if n == 0:
            raise ValueError("RepeatedRandomSampler: data_source is empty")
        if drop_last:
            if n < num_replicas:
                raise ValueError(
                    f"RepeatedRandomSampler: {n} samples cannot be split over {num_replicas} "
                    "ranks with drop_last=True"
                )
            self.num_indices = n // num_replicas
        else:
            self.num_indices = math.ceil(n / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch, which changes the permutation (all ranks must use the same epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_indices * self.n_views

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        total = self.num_indices * self.num_replicas
        if total > n:
            order = order.repeat(math.ceil(total / n))
        shard = order[:total][self.rank :: self.num_replicas]
        return iter(shard.repeat_interleave(self.n_views).tolist())
