"""The shared queues one callback reads, as an object the callback holds."""

from __future__ import annotations

from typing import Any

import lightning as pl
from torch import Tensor

from spt_callbacks._state import HeldState
from spt_callbacks.queue import QueueRegistry, RingQueue, queue_registry

__all__ = ["WatchedQueues"]


class WatchedQueues:
    """A callback's handle on the Trainer's shared queues of some keys of the step outputs.

    The callback names its keys and lengths at construction (:meth:`watch`); :meth:`attach`
    (in the callback's ``setup``) takes the queues from the Trainer's
    :class:`~spt_callbacks.queue.QueueRegistry`; :meth:`push` appends a training batch's
    value (once per batch for all callbacks watching the key, see :meth:`new_batch`). The
    queues this handle asked for first are its own: its :meth:`state_dict` saves them.

    Args:
        owner: The callback, as error messages name it (``"OnlineKNN 'knn'"``).

    Examples:
        >>> queues = WatchedQueues("OnlineKNN 'knn'")
        >>> queues.watch("embedding", 1024)
        >>> queues.lengths
        {'embedding': 1024}
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.lengths: dict[str, int] = {}
        self._registry: QueueRegistry | None = None
        self._queues: dict[str, RingQueue] = {}
        self._device: Any = None
        self._held = HeldState()

    def watch(self, key: str, length: int) -> None:
        """Ask for the most recent ``length`` items of ``key``.

        Raises:
            ValueError: If ``length`` is not a positive int.
        """
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"{self.owner}: queue_length must be a positive int, got {length!r}")
        self.lengths[key] = max(length, self.lengths.get(key, 0))

    def attach(self, trainer: pl.Trainer) -> None:
        """Take the queues from ``trainer``'s registry and restore a state that came early."""
        self._registry = queue_registry(trainer)
        self._device = trainer.strategy.root_device
        self._queues = {
            key: self._registry.request(key, length, self) for key, length in self.lengths.items()
        }
        self._held.restore(queues=self)

    def __getitem__(self, key: str) -> RingQueue:
        """The shared queue of ``key`` (after :meth:`attach`)."""
        return self._queues[key]

    def new_batch(self) -> None:
        """Start a training batch: each shared queue may be pushed once more."""
        if self._registry is not None:
            self._registry.new_batch()

    def push(self, key: str, value: Tensor) -> None:
        """Queue a training batch's ``value`` of ``key`` (gathered across ranks)."""
        assert self._registry is not None, "attach() (the callback's setup) has not run"
        self._registry.push(key, value)

    def recent(self, key: str) -> list[Tensor]:
        """The most recent ``length`` items of ``key`` asked for (views, oldest first)."""
        return self._queues[key].recent(self.lengths[key])

    def state_dict(self) -> dict[str, Any]:
        """The states of the queues this handle owns, by key."""
        if self._registry is None:
            return dict(self._held.collect(queues=None).get("queues", {}))
        return {
            key: queue.state_dict()
            for key, queue in self._queues.items()
            if self._registry.is_owner(key, self)
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the queues of :meth:`state_dict` (held until :meth:`attach` before it).

        Raises:
            RuntimeError: If the state holds a queue of a key this handle does not watch.
        """
        if self._registry is None:
            self._held.hold({"queues": state})
            return
        for key, queue_state in state.items():
            if key not in self._queues:
                raise RuntimeError(
                    f"{self.owner}: the checkpoint holds a queue of {key!r} but this callback "
                    f"watches {sorted(self.lengths)}; was it created with other arguments?"
                )
            self._queues[key].load_state_dict(queue_state, device=self._device)
