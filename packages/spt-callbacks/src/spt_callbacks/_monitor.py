"""Base of the monitors that measure a queue of one key every ``n`` training batches."""

from __future__ import annotations

from typing import Any

import lightning as pl
from torch import Tensor
from typing_extensions import override

from spt_callbacks._metrics import log_metrics
from spt_callbacks._outputs import read_key
from spt_callbacks._queued import WatchedQueues
from spt_callbacks._state import NamedCallback

__all__ = ["QueueMonitor"]


class QueueMonitor(NamedCallback):
    """Queue ``input`` on every training batch; every ``every_n_steps`` batches, :meth:`measure`.

    Subclasses say what to measure (:meth:`measure`, and :meth:`ready` for values computed
    later); the queue is a :class:`~spt_callbacks._queued.WatchedQueues` this callback holds.
    The batch counter is this callback's own (training batches seen, in the checkpoint), so
    it does not depend on how many optimizers advance ``global_step``. Values are logged as
    ``{name}/{key}`` on the step.

    Args:
        name: Name of the monitor, prefix of what it logs.
        input: Key of the embeddings ``(B, D)`` in the step outputs (else the batch).
        queue_length: Number of recent embeddings measured.
        every_n_steps: Measure after every ``every_n_steps``-th training batch.

    Raises:
        ValueError: If ``queue_length`` or ``every_n_steps`` is not a positive int.
    """

    def __init__(self, name: str, input: str, queue_length: int, every_n_steps: int) -> None:
        super().__init__(name)
        if not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(
                f"{self._owner}: every_n_steps must be a positive int, got {every_n_steps!r}"
            )
        self.input = input
        self.queue_length = queue_length
        self.every_n_steps = every_n_steps
        self.batches_seen = 0
        self._queues = WatchedQueues(self._owner)
        self._queues.watch(input, queue_length)

    def measure(self, embeddings: list[Tensor], outputs: Any, batch: Any) -> dict[str, Tensor]:
        """The values to log (without a host sync), from the queued embedding segments."""
        raise NotImplementedError

    def ready(self) -> dict[str, Tensor]:
        """Values of an earlier measurement that became available since (none by default)."""
        return {}

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._queues.attach(trainer)

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._queues.new_batch()

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        x = read_key(outputs, batch, self.input, owner=self._owner, argument="input")
        if x.ndim != 2:
            raise ValueError(
                f"{self._owner}: input {self.input!r} has shape {tuple(x.shape)}; expected "
                "(batch, dim) embeddings"
            )
        self._queues.push(self.input, x)
        self.batches_seen += 1
        values = self.ready()
        if self.batches_seen % self.every_n_steps == 0:
            embeddings = self._queues.recent(self.input)
            if sum(e.shape[0] for e in embeddings) > 1:
                values.update(self.measure(embeddings, outputs, batch))
        if values:
            log_metrics(pl_module, self.name, values, on_step=True, on_epoch=False)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"queues": self._queues.state_dict(), "batches_seen": self.batches_seen}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._queues.load_state_dict(state_dict.get("queues", {}))
        self.batches_seen = int(state_dict.get("batches_seen", 0))
