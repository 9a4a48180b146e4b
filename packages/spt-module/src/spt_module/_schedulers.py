"""When the schedulers of :class:`spt_module.Module` step, and the check of their monitor.

A scheduler steps on its own ``interval``: ``"step"`` after every ``scheduler_frequency``-th
step of its optimizer, ``"epoch"`` at the end of every ``scheduler_frequency``-th epoch. A
ReduceLROnPlateau steps on its ``monitor`` (default ``"val_loss"``) and fails clearly when
that metric is never logged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
from torch.optim.lr_scheduler import ReduceLROnPlateau

from spt_optim import OptimizerEntry

__all__ = [
    "require_monitor",
    "step_epoch_schedulers",
    "step_scheduler",
    "step_scheduler_after_optimizer",
]


def step_scheduler_after_optimizer(
    entry: OptimizerEntry, optimizer_steps: int, trainer: pl.Trainer
) -> None:
    """Step the step-interval scheduler of ``entry`` after its optimizer's step number
    ``optimizer_steps``, on the scheduler's frequency.

    A ReduceLROnPlateau whose metric is not logged yet (before the first validation) waits;
    :func:`step_epoch_schedulers` fails if it is still missing at the end of the epoch.
    """
    if (
        entry.scheduler is not None
        and entry.interval == "step"
        and optimizer_steps % entry.scheduler_frequency == 0
    ):
        step_scheduler(entry.scheduler, entry.name, entry.monitor, trainer, strict=False)


def step_epoch_schedulers(entries: Sequence[OptimizerEntry], trainer: pl.Trainer) -> None:
    """At the end of a complete epoch: step the epoch-interval schedulers on their frequency.

    Raises:
        ValueError: If a step-interval ReduceLROnPlateau's metric has still not been logged,
            or an epoch-interval one's is missing.
    """
    epoch = trainer.current_epoch
    for entry in entries:
        if isinstance(entry.scheduler, ReduceLROnPlateau) and entry.interval == "step":
            require_monitor(entry.name, entry.monitor, trainer.callback_metrics)
        if (
            entry.scheduler is not None
            and entry.interval == "epoch"
            and (epoch + 1) % entry.scheduler_frequency == 0
        ):
            step_scheduler(entry.scheduler, entry.name, entry.monitor, trainer)


def step_scheduler(
    scheduler: Any, name: str, monitor: str | None, trainer: pl.Trainer, *, strict: bool = True
) -> None:
    """Step ``scheduler``; a ReduceLROnPlateau steps on its ``monitor`` in ``callback_metrics``.

    Args:
        scheduler: The scheduler.
        name: Name of its optimizer (for the message).
        monitor: Metric of a ReduceLROnPlateau (default ``"val_loss"``).
        trainer: The Trainer, whose ``callback_metrics`` hold the logged metrics.
        strict: Raise when the metric is missing. Per-step schedulers pass False: a
            validation metric appears only after the first validation, so they skip until
            then (the Module checks at the end of each epoch that it appeared).

    Raises:
        ValueError: If a ReduceLROnPlateau monitors a metric that was never logged.
    """
    if not isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step()
        return
    key = monitor or "val_loss"
    callback_metrics = trainer.callback_metrics
    if key in callback_metrics:
        scheduler.step(callback_metrics[key])
    elif strict:
        require_monitor(name, monitor, callback_metrics)


def require_monitor(name: str, monitor: str | None, callback_metrics: Mapping[str, Any]) -> None:
    """Raise a clear error if ``monitor`` (default ``"val_loss"``) is not a logged metric.

    Raises:
        ValueError: Naming the metric, the logged metrics and the fix.
    """
    key = monitor or "val_loss"
    if key in callback_metrics:
        return
    logged = ", ".join(sorted(callback_metrics)) or "none"
    raise ValueError(
        f"optimizer {name!r}: ReduceLROnPlateau monitors {key!r}, which was never logged; "
        f"logged metrics are: {logged}. Log {key!r} with self.log (e.g. in forward at the "
        "'validate' stage) or set 'monitor' in the optim spec to one of the logged names."
    )
