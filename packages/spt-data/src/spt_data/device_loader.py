"""Device-resident data: batches are index gathers of tensors held on the accelerator.

A dataset that fits in device memory (CIFAR-10 as uint8 is 150 MB) is stacked once into
tensors, one per key, and moved to the device once. Every batch is then
``{key: tensor.index_select(0, idx)}`` for a slice ``idx`` of the epoch's order, already on
the device: no worker processes, no collation, no per-step host-to-device copy. The random
augmentation runs on the device afterwards (``spt_data.gpu``, through the DataModule's
``gpu_transform``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from spt_data._stack import SAMPLE_IDX, stack_samples

__all__ = ["DeviceLoader", "EpochOrder"]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"DeviceLoader: {name} must be a positive int, got {value!r}")
    return value


def _check_data(data: Any) -> dict[str, Tensor]:
    if not isinstance(data, Mapping) or len(data) == 0:
        raise ValueError(
            "DeviceLoader: data must be a non-empty dict of key -> tensor with one row per "
            f"sample, e.g. {{'image': uint8 (N, C, H, W), 'label': (N,)}}; got {data!r:.80}"
        )
    columns: dict[str, Tensor] = {}
    for key, value in data.items():
        if not isinstance(value, Tensor) or value.ndim == 0:
            found = "a 0-d tensor" if isinstance(value, Tensor) else type(value).__name__
            raise TypeError(
                f"DeviceLoader: data[{key!r}] must be a tensor with one row per sample, got "
                f"{found}; build the tensors with DeviceLoader.from_dataset(dataset, ...)"
            )
        columns[str(key)] = value.as_subclass(Tensor)  # plain tensors: no subclass dispatch
    lengths = {k: int(v.shape[0]) for k, v in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"DeviceLoader: every tensor needs the same number of rows, got {lengths}")
    if next(iter(lengths.values())) == 0:
        raise ValueError("DeviceLoader: data holds no samples (tensors of 0 rows)")
    return columns


def _distributed_shard() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()), int(dist.get_world_size())
    return 0, 1


class EpochOrder:
    """The samples of each rank in an epoch: a permutation drawn from ``seed + epoch``, sharded.

    What ``DataLoader.sampler`` is to a DataLoader: Lightning calls :meth:`set_epoch` on it
    at the start of every training epoch. Every rank draws the same permutation (on the CPU,
    so it does not depend on the device) and takes every ``world_size``-th entry from
    position ``rank``, as ``DistributedSampler`` does.

    Args:
        n: Number of samples.
        shuffle: Draw a permutation per epoch; ``False`` keeps ``0, 1, 2, ...``.
        seed: Base seed shared by all ranks.
        drop_last: Cut the tail to a multiple of the world size (else pad by wrapping around).
    """

    def __init__(self, n: int, shuffle: bool, seed: int, drop_last: bool) -> None:
        self.n = n
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the next iteration (all ranks must use the same one)."""
        self.epoch = int(epoch)

    def order(self, epoch: int) -> Tensor:
        """The permutation of ``epoch``, int64 (n,) on the CPU, the same on every rank."""
        if not self.shuffle:
            return torch.arange(self.n)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.n, generator=generator)

    def samples_per_rank(self, world_size: int) -> int:
        """Samples each rank takes in an epoch."""
        if self.drop_last:
            return self.n // world_size
        return math.ceil(self.n / world_size)

    def shard(self, order: Tensor, rank: int, world_size: int) -> Tensor:
        """This rank's entries of ``order``: ``order[rank::world_size]`` after cut or padding."""
        total = self.samples_per_rank(world_size) * world_size
        if total > self.n:  # pad with the first entries, as DistributedSampler does
            order = order.repeat(math.ceil(total / self.n))
        return order[:total][rank::world_size]


class DeviceLoader:
    """An iterable of dict batches gathered from tensors held on the device.

    A batch is ``{key: data[key][idx] for key in data}`` plus ``"sample_idx"`` (the rows'
    indices, int64, unless ``data`` has its own), for ``idx`` the next ``batch_size`` entries
    of the epoch's order; everything stays on the tensors' device. It plugs into Lightning
    as a DataLoader does (``trainer.fit(module, datamodule=DataModule(train=loader))``):

    - **device**: :meth:`place` moves the tensors (once); ``spt_data.DataModule`` calls it
      in ``setup`` with the Trainer's device, so on a CPU-only machine they stay in host
      memory. A ``device`` given here is kept.
    - **shuffling**: the order of epoch ``e`` is ``torch.randperm(n)`` drawn from
      ``seed + e`` (the same for the same seed and epoch). Lightning sets the epoch through
      ``loader.sampler.set_epoch``; a loop without Lightning gets the next epoch at each new
      iteration.
    - **DDP**: rank ``r`` of ``W`` takes ``order[r::W]``, so the shards are disjoint. With
      ``drop_last=True`` the order is first cut to a multiple of ``W`` and each rank drops
      its last incomplete batch: every sample is seen at most once per epoch and the
      ``n mod W`` samples cut plus the incomplete batch's are skipped (a different few each
      epoch). With ``drop_last=False`` the order is padded by wrapping around to a multiple
      of ``W`` (as ``DistributedSampler``) and the last batch may be smaller: every sample
      is seen, and up to ``W - 1`` twice. Exactly once per epoch when ``W`` divides ``n``
      (and, with ``drop_last=True``, ``batch_size`` divides ``n / W``).
    - **resume**: :meth:`state_dict` holds the epoch, its order and the number of batches
      handed out; Lightning saves it in the checkpoint (its stateful-loader protocol, like
      ``spt._resume.ResumableLoader``) and :meth:`load_state_dict` makes the next iteration
      continue that epoch at the next batch.

    Args:
        data: Key to tensor with one row per sample, e.g. ``{"image": uint8 (N, C, H, W),
            "label": int64 (N,)}``; all of the same length ``N``.
        batch_size: Samples per batch (per rank).
        shuffle: New random order every epoch (``False``: ``0, 1, 2, ...``).
        drop_last: Drop the incomplete last batch (see DDP above).
        seed: Base seed of the order, shared by all ranks.
        device: Move the tensors there now, and keep them there; None: where the Trainer
            trains (through ``DataModule``) or where they are.

    Raises:
        ValueError: ``data`` is empty or its tensors differ in length; ``batch_size`` is not a
            positive int.
        TypeError: a value of ``data`` is not a tensor with a first dimension.

    Examples:
        >>> data = {"x": torch.arange(10.0).view(5, 2), "label": torch.arange(5)}
        >>> loader = DeviceLoader(data, batch_size=2, shuffle=False)
        >>> len(loader), [b["sample_idx"].tolist() for b in loader]
        (2, [[0, 1], [2, 3]])
    """

    batch_sampler = None  # Lightning reads it next to ``sampler``

    def __init__(
        self,
        data: Mapping[str, Tensor],
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> None:
        self.data = _check_data(data)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.drop_last = bool(drop_last)
        self.num_samples = int(next(iter(self.data.values())).shape[0])
        self.sampler = EpochOrder(self.num_samples, bool(shuffle), seed, self.drop_last)
        self.fixed_device = device is not None
        self._shard: tuple[int, int] | None = None
        self._epoch: int | None = None  # epoch of the running (or last) iteration
        self._order: Tensor | None = None  # its permutation, on the CPU
        self._yielded = 0  # batches of that epoch handed out
        self._pending: dict[str, Any] | None = None  # a loaded state to continue
        if device is not None:
            self.data = {k: v.to(device) for k, v in self.data.items()}

    # ------------------------------------------------------------------ placement
    @property
    def device(self) -> torch.device:
        """Where the tensors are."""
        return next(iter(self.data.values())).device

    @property
    def shuffle(self) -> bool:
        """Whether every epoch has its own random order."""
        return self.sampler.shuffle

    def place(
        self, device: str | torch.device | None = None, *, rank: int = 0, world_size: int = 1
    ) -> DeviceLoader:
        """Move the tensors to ``device`` (unless fixed at construction) and take shard ``rank``.

        Args:
            device: Where the Trainer trains (``trainer.strategy.root_device``); None keeps
                the tensors where they are.
            rank: This process's rank (``trainer.global_rank``).
            world_size: Number of processes (``trainer.world_size``).

        Returns:
            The loader itself.

        Raises:
            ValueError: ``rank`` is not in ``[0, world_size)``, or ``drop_last=True`` leaves a
                rank with no sample.
        """
        world_size = _positive_int("world_size", world_size)
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(
                f"DeviceLoader: rank must be in [0, {world_size - 1}] for world_size="
                f"{world_size}, got {rank!r}"
            )
        if self.sampler.samples_per_rank(world_size) == 0:
            raise ValueError(
                f"DeviceLoader: {self.num_samples} samples cannot be split over {world_size} "
                "ranks with drop_last=True; use more data or drop_last=False"
            )
        self._shard = (rank, world_size)
        if device is not None and not self.fixed_device:
            self.data = {k: v.to(device) for k, v in self.data.items()}
        return self

    def _rank_and_world(self) -> tuple[int, int]:
        return self._shard if self._shard is not None else _distributed_shard()

    # ------------------------------------------------------------------ iteration
    def __len__(self) -> int:
        samples = self.sampler.samples_per_rank(self._rank_and_world()[1])
        if self.drop_last:
            return samples // self.batch_size
        return math.ceil(samples / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the next iteration (``loader.sampler.set_epoch`` does the same)."""
        self.sampler.set_epoch(epoch)

    def _start(self) -> tuple[int, Tensor, int]:
        """Epoch, order and first batch of the iteration that starts now."""
        pending, self._pending = self._pending, None
        if pending is not None and pending["epoch"] == self.sampler.epoch:
            return pending["epoch"], pending["order"], pending["batches"]
        epoch = self.sampler.epoch
        return epoch, self.sampler.order(epoch), 0

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        # A generator: the order is drawn at the first batch, after Lightning's set_epoch.
        epoch, order, first = self._start()
        self._epoch, self._order, self._yielded = epoch, order, first
        self.sampler.set_epoch(epoch + 1)  # a plain loop's next iteration is the next epoch
        rank, world_size = self._rank_and_world()
        indices = self.sampler.shard(order, rank, world_size).to(self.device)  # once per epoch
        size, batches = self.batch_size, len(self)
        for b in range(first, batches):
            idx = indices[b * size : (b + 1) * size]
            batch = {key: value.index_select(0, idx) for key, value in self.data.items()}
            batch.setdefault(SAMPLE_IDX, idx)
            self._yielded = b + 1
            yield batch

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        """The epoch, its order (int64 CPU tensor) and the batches handed out in it."""
        if self._epoch is None or self._order is None:
            return {"epoch": self.sampler.epoch, "order": None, "batches": 0}
        return {"epoch": self._epoch, "order": self._order.clone(), "batches": self._yielded}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue the saved epoch at its next batch, in its saved order.

        A state saved after the last batch of an epoch (or before the first) starts the
        following epoch (that same epoch) from its beginning.

        Raises:
            ValueError: The saved order is of another number of samples.
        """
        epoch, order, batches = state_dict["epoch"], state_dict["order"], state_dict["batches"]
        if order is not None and int(order.numel()) != self.num_samples:
            raise ValueError(
                f"DeviceLoader: the checkpoint's order has {order.numel()} samples but this "
                f"loader holds {self.num_samples}; resume with the same data"
            )
        self._pending = None
        if order is None or batches == 0:
            self.sampler.set_epoch(epoch)
        elif batches >= len(self):
            self.sampler.set_epoch(epoch + 1)
        else:
            self.sampler.set_epoch(epoch)
            self._pending = {
                "epoch": int(epoch),
                "order": order.to(torch.int64),
                "batches": batches,
            }

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dataset(
        cls,
        dataset: Any,
        batch_size: int,
        *,
        keys: Sequence[str] | None = None,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        device: str | torch.device | None = None,
    ) -> DeviceLoader:
        """Read every sample of a dict dataset once and stack each key into one tensor.

        Images stay as the dataset gives them: give it no normalising CPU transform, so that
        they are stacked as uint8 (4x less memory than float32) and the GPU recipe makes the
        views. PIL images become uint8 ``(C, H, W)`` tensors; ints, floats and numpy values
        become tensors.

        Args:
            dataset: A map-style dataset of dict samples (``spt_data.FromTorchDataset``,
                ``DictDataset``, ``digits()`` ...).
            batch_size: Samples per batch.
            keys: The keys to keep; default every key of the first sample except
                ``"sample_idx"`` (the loader adds the row index).
            shuffle: See the class.
            drop_last: See the class.
            seed: See the class.
            device: See the class.

        Raises:
            TypeError: A sample is not a dict, or a value cannot become a tensor.
            KeyError: A key of ``keys`` is missing from a sample.
            ValueError: The dataset is empty, or a key's values differ in shape.

        Examples:
            >>> from spt_data import DictDataset
            >>> ds = DictDataset({"x": torch.randn(6, 3), "label": [0, 1, 2, 0, 1, 2]})
            >>> loader = DeviceLoader.from_dataset(ds, batch_size=3, shuffle=False)
            >>> loader.data["x"].shape, loader.data["label"].tolist()
            (torch.Size([6, 3]), [0, 1, 2, 0, 1, 2])
        """
        data = stack_samples(dataset, keys)
        return cls(data, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed, device=device)

    def __repr__(self) -> str:
        shapes = {k: tuple(v.shape[1:]) for k, v in self.data.items()}
        return (
            f"DeviceLoader(n={self.num_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, device={self.device}, "
            f"rows={shapes})"
        )
