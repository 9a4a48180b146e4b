"""Base class of monitors computed every ``n`` training batches over a queue of one key."""

from __future__ import annotations

from typing import Any

import lightning as pl
from torch import Tensor
from typing_extensions import override

from spt_callbacks._outputs import read_key
from spt_callbacks._queued import QueuedCallback

__all__ = ["QueueMonitor"]


class QueueMonitor(QueuedCallback):
    """Queue ``input`` on every training batch; every ``every_n_steps`` batches, :meth:`measure`.

    The batch counter is this callback's own (training batches seen, saved in the
    checkpoint), so it does not depend on how many optimizers advance ``global_step``.

    Args:
        name: Name of the monitor, prefix of what it logs.
        input: Key of the embeddings ``(B, D)`` in the step outputs (else the batch).
        queue_length: Number of recent embeddings measured.
        every_n_steps: Measure after every ``every_n_steps``-th training batch.
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
        self._watch(input, queue_length)

    def measure(self, embeddings: list[Tensor], outputs: Any, batch: Any) -> dict[str, Tensor]:
        """The values to log (without a host sync), from the queued embedding segments."""
        raise NotImplementedError

    def ready(self) -> dict[str, Tensor]:
        """Values of an earlier measurement that became available since (none by default)."""
        return {}

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
        self._push(self.input, x)
        self.batches_seen += 1
        values = self.ready()
        embeddings = self._recent(self.input)
        if self.batches_seen % self.every_n_steps == 0 and sum(e.shape[0] for e in embeddings) > 1:
            values.update(self.measure(embeddings, outputs, batch))
        for key, value in values.items():
            pl_module.log(f"{self.name}/{key}", value, on_step=True, on_epoch=False)

    @override
    def _extra_state(self) -> dict[str, Any]:
        return {"batches_seen": self.batches_seen}

    @override
    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.batches_seen = int(state.get("batches_seen", 0))
