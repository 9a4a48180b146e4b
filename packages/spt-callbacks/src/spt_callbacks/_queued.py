"""Base class of callbacks that read shared queues of step outputs."""

from __future__ import annotations

from typing import Any

import lightning as pl
from lightning.pytorch.callbacks import Callback
from torch import Tensor
from typing_extensions import override

from spt_callbacks.queue import QueueRegistry, RingQueue, queue_registry

__all__ = ["QueuedCallback"]


class QueuedCallback(Callback):
    """A callback whose state includes shared queues of keys of the training step outputs.

    Subclasses call :meth:`_watch` in ``__init__`` for each key they queue; in ``setup`` the
    queues are taken from the Trainer's :class:`~spt_callbacks.queue.QueueRegistry`;
    :meth:`_push` appends a training batch's value (once per batch for all callbacks).
    The queues a callback owns (asked for first) are in its checkpoint state.

    Args:
        name: Name of the callback; prefixes what it logs and makes its state key unique.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"{type(self).__name__}: name must be a non-empty string, got {name!r}"
            )
        self.name = name
        self._requests: dict[str, int] = {}
        self._registry: QueueRegistry | None = None
        self._queues: dict[str, RingQueue] = {}
        self._device: Any = None
        self._pending_state: dict[str, Any] | None = None

    @property
    def _owner(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(name=self.name)

    def _watch(self, key: str, length: int) -> None:
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"{self._owner}: queue_length must be a positive int, got {length!r}")
        self._requests[key] = max(length, self._requests.get(key, 0))

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._registry = queue_registry(trainer)
        self._device = trainer.strategy.root_device
        self._queues = {
            key: self._registry.request(key, length, self) for key, length in self._requests.items()
        }
        if self._pending_state is not None:
            state, self._pending_state = self._pending_state, None
            self.load_state_dict(state)

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._registry is not None:
            self._registry.new_batch()

    def _push(self, key: str, value: Tensor) -> None:
        assert self._registry is not None, "setup() has not run"
        self._registry.push(key, value)

    def _recent(self, key: str) -> list[Tensor]:
        """This callback's most recent ``queue_length`` items of ``key`` (views, oldest first)."""
        return self._queues[key].recent(self._requests[key])

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        return None

    @override
    def state_dict(self) -> dict[str, Any]:
        queues = {}
        if self._registry is not None:
            queues = {
                key: queue.state_dict()
                for key, queue in self._queues.items()
                if self._registry.is_owner(key, self)
            }
        return {"queues": queues, **self._extra_state()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self._registry is None:  # restored before setup: apply there
            self._pending_state = state_dict
            return
        for key, queue_state in state_dict.get("queues", {}).items():
            if key not in self._queues:
                raise RuntimeError(
                    f"{self._owner}: the checkpoint holds a queue of {key!r} but this callback "
                    f"watches {sorted(self._requests)}; was it created with other arguments?"
                )
            self._queues[key].load_state_dict(queue_state, device=self._device)
        self._load_extra_state(state_dict)
