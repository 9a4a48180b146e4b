"""Ring-buffer queues on the device, shared between callbacks that watch the same key.

A :class:`QueueRegistry` belongs to one Trainer. Callbacks ask it for the queue of a key
(``"embedding"``, ``"label"``) and a length; every callback watching that key gets the same
:class:`RingQueue`, sized for the longest length asked, filled once per training batch
(after gathering the batch from every rank) and read back as its own most recent
``queue_length`` items.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import Tensor

__all__ = ["QueueRegistry", "RingQueue", "queue_registry"]


class RingQueue:
    """A fixed-capacity first-in-first-out buffer of tensor items, kept on one device.

    The buffer ``(capacity, *item_shape)`` is allocated on the first :meth:`push` (when the
    item shape, dtype and device are known). Pushing never syncs with the host: the write
    position is a Python int advanced by the batch size.

    Args:
        key: The output key this queue holds (for error messages).
        capacity: Maximum number of items kept; older items are overwritten.

    Examples:
        >>> q = RingQueue("embedding", capacity=4)
        >>> q.push(torch.arange(6.0).view(3, 2))
        >>> q.push(torch.arange(6.0, 10.0).view(2, 2))
        >>> torch.cat(q.recent(3)).tolist()
        [[4.0, 5.0], [6.0, 7.0], [8.0, 9.0]]
    """

    def __init__(self, key: str, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"queue '{key}': capacity must be >= 1, got {capacity}")
        self.key = key
        self.capacity = int(capacity)
        self.buffer: Tensor | None = None
        self.position = 0  # next row to write
        self.count = 0  # number of valid rows (<= capacity)
        self.total = 0  # number of items ever pushed

    @property
    def item_shape(self) -> tuple[int, ...] | None:
        """Shape of one item, or None before the first push."""
        return None if self.buffer is None else tuple(self.buffer.shape[1:])

    def nbytes(self) -> int:
        """Bytes held by the buffer (0 before the first push)."""
        return 0 if self.buffer is None else self.buffer.numel() * self.buffer.element_size()

    def grow(self, capacity: int) -> None:
        """Raise the capacity to ``capacity`` (before the buffer exists, or keeping its items)."""
        if capacity <= self.capacity:
            return
        if self.buffer is None:
            self.capacity = int(capacity)
            return
        items = self.recent(self.count)
        old = self.buffer
        self.capacity = int(capacity)
        self.buffer = None
        self.position = self.count = 0
        total = self.total
        for segment in items:
            self._write(segment, old.dtype, old.device)
        self.total = total

    def _allocate(self, item_shape: tuple[int, ...], dtype: torch.dtype, device: Any) -> None:
        self.buffer = torch.zeros((self.capacity, *item_shape), dtype=dtype, device=device)

    def push(self, items: Tensor) -> None:
        """Append ``items`` of shape ``(B, *item_shape)``, overwriting the oldest rows when full.

        Raises:
            ValueError: If the item shape differs from the items already queued.
        """
        items = items.detach()
        if self.buffer is not None and tuple(items.shape[1:]) != self.item_shape:
            raise ValueError(
                f"queue '{self.key}': items of shape {tuple(items.shape[1:])} cannot join a queue "
                f"of items of shape {self.item_shape}; every step must return '{self.key}' with "
                "the same trailing shape"
            )
        dtype = items.dtype if self.buffer is None else self.buffer.dtype
        device = items.device if self.buffer is None else self.buffer.device
        self._write(items, dtype, device)

    def _write(self, items: Tensor, dtype: torch.dtype, device: Any) -> None:
        if self.buffer is None:
            self._allocate(tuple(items.shape[1:]), dtype, device)
        assert self.buffer is not None
        n = int(items.shape[0])
        self.total += n
        if n >= self.capacity:  # only the newest `capacity` items survive
            items = items[n - self.capacity :]
            n = self.capacity
        if items.device != self.buffer.device or items.dtype != self.buffer.dtype:
            items = items.to(device=self.buffer.device, dtype=self.buffer.dtype)
        first = min(n, self.capacity - self.position)
        if first == n:  # the usual case: one write, without slicing the items
            self.buffer[self.position : self.position + n] = items
        else:
            self.buffer[self.position :] = items[:first]
            self.buffer[: n - first] = items[first:]
        self.position = (self.position + n) % self.capacity
        self.count = min(self.count + n, self.capacity)

    def recent(self, n: int | None = None) -> list[Tensor]:
        """The most recent ``min(n, count)`` items in push order, as at most two views.

        Returns views (no copy), oldest segment first; concatenate them when one tensor is
        needed. An empty queue returns an empty list.
        """
        n = self.count if n is None else min(int(n), self.count)
        if self.buffer is None or n == 0:
            return []
        start = (self.position - n) % self.capacity
        if start + n <= self.capacity:
            return [self.buffer[start : start + n]]
        return [self.buffer[start:], self.buffer[: self.position]]

    def state_dict(self) -> dict[str, Any]:
        """The queued items (on CPU, in push order) and counters."""
        segments = self.recent()
        items = torch.cat(segments).cpu() if segments else None
        return {"key": self.key, "capacity": self.capacity, "items": items, "total": self.total}

    def load_state_dict(self, state: dict[str, Any], device: Any = None) -> None:
        """Restore the items of :meth:`state_dict` (onto ``device`` when given)."""
        self.grow(int(state["capacity"]))
        self.buffer = None
        self.position = self.count = 0
        items = state["items"]
        if items is not None and items.shape[0] > 0:
            self._write(items, items.dtype, device if device is not None else items.device)
        self.total = int(state["total"])


class QueueRegistry:
    """The queues of one Trainer: one :class:`RingQueue` per watched key.

    Callbacks :meth:`request` a key and a length in ``setup``; :meth:`push` is called by
    every callback that watches a key on every training batch, and only the first call of a
    batch writes (the others see the key in :attr:`pushed_this_batch`). :meth:`new_batch`
    clears that set; callbacks call it in ``on_train_batch_start``.

    Args:
        world_size: Number of processes whose batches are gathered into each queue.
        all_gather: Function gathering a tensor from every rank into ``(world, *shape)``.
    """

    def __init__(self, world_size: int = 1, all_gather: Any = None) -> None:
        self.queues: dict[str, RingQueue] = {}
        self.owners: dict[str, int] = {}
        self.pushed_this_batch: set[str] = set()
        self.world_size = world_size
        self._all_gather = all_gather

    def request(self, key: str, length: int, owner: object) -> RingQueue:
        """The shared queue for ``key``, grown to hold at least ``length`` items.

        The first requester of a key becomes its owner (the callback that saves it in the
        checkpoint, see :meth:`is_owner`).
        """
        queue = self.queues.get(key)
        if queue is None:
            queue = self.queues[key] = RingQueue(key, length)
            self.owners[key] = id(owner)
        else:
            queue.grow(length)
        return queue

    def is_owner(self, key: str, owner: object) -> bool:
        """Whether ``owner`` saves the queue of ``key`` in the checkpoint."""
        return self.owners.get(key) == id(owner)

    def new_batch(self) -> None:
        """Start a new training batch: each queue may be pushed once more."""
        self.pushed_this_batch.clear()

    def push(self, key: str, items: Tensor) -> None:
        """Gather ``items`` from every rank and queue them under ``key`` once per batch."""
        if key in self.pushed_this_batch:
            return
        self.pushed_this_batch.add(key)
        items = items.detach()
        if self.world_size > 1 and self._all_gather is not None:
            items = self._all_gather(items).flatten(0, 1)  # (world, B, ...) -> (world * B, ...)
        self.queues[key].push(items)

    def nbytes(self) -> int:
        """Total bytes held by all queues (each shared buffer counted once)."""
        return sum(q.nbytes() for q in self.queues.values())


_REGISTRIES: weakref.WeakKeyDictionary[Any, QueueRegistry] = weakref.WeakKeyDictionary()


def queue_registry(trainer: Any) -> QueueRegistry:
    """The :class:`QueueRegistry` of ``trainer`` (created on first use; nothing is set on it)."""
    registry = _REGISTRIES.get(trainer)
    if registry is None:
        strategy = trainer.strategy
        registry = QueueRegistry(world_size=int(trainer.world_size), all_gather=strategy.all_gather)
        _REGISTRIES[trainer] = registry
    return registry
