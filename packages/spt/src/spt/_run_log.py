"""The run's log across a resume: epoch accumulators in the checkpoint, the CSV cut back to it.

A checkpoint written in the middle of an epoch holds the parameters and the loop position;
:class:`RunLog` adds what the epoch's logged means are made of so far: the states of every
``torchmetrics.Metric`` of the module and of the callbacks (an ``OnlineProbe``'s accuracy,
a kNN's), and the accumulators of ``self.log(..., on_epoch=True)``. The resumed epoch then
ends on the same means as the uninterrupted one. The checkpoint also records the ``step`` of
the last CSV row written before it: on resume, later rows (logged by the run that went on
after the checkpoint and died) are dropped, so the CSV equals the uninterrupted run's, row
for row.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import lightning as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torchmetrics import Metric
from typing_extensions import override

from spt._lightning import (
    epoch_accumulators,
    is_last_batch,
    logged_step,
    resume_epoch_accumulators,
)
from spt._loggers import RunCSVLogger
from spt._resume import gather_per_rank, select_own_rank

log = logging.getLogger("spt")

__all__ = ["RunLog", "metric_states", "restore_metric_states"]


def _named_metrics(
    trainer: pl.Trainer, pl_module: pl.LightningModule
) -> Iterator[tuple[str, Metric]]:
    """Every torchmetrics ``Metric`` of the module and of the callbacks, with a stable name."""
    for name, module in pl_module.named_modules():
        if isinstance(module, Metric):
            yield f"module.{name}", module
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        for attribute, value in sorted(vars(callback).items()):
            if isinstance(value, nn.Module):
                for name, module in value.named_modules():
                    if isinstance(module, Metric):
                        yield f"{callback.state_key}.{attribute}.{name}".rstrip("."), module


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    return value


def metric_states(trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
    """The accumulated state of every metric of the module and callbacks, by name."""
    return {
        name: {"state": _to_cpu(metric.metric_state), "updates": metric.update_count}
        for name, metric in _named_metrics(trainer, pl_module)
    }


def restore_metric_states(
    trainer: pl.Trainer, pl_module: pl.LightningModule, saved: dict[str, Any]
) -> list[str]:
    """Load :func:`metric_states` into the metrics of the same names.

    Returns:
        The saved names that no metric has now (their state is not restored).
    """
    found = dict(_named_metrics(trainer, pl_module))
    for name, entry in saved.items():
        metric = found.get(name)
        if metric is None:
            continue
        device = metric.device
        for key, value in entry["state"].items():
            setattr(metric, key, _to_device(value, device))
        metric._update_count = int(entry["updates"])
        metric._computed = None
    return sorted(set(saved) - set(found))


class RunLog(Callback):
    """Keeps a run's logged values whole across an interruption (added by the Manager).

    - Its checkpoint state holds, in the middle of an epoch, the metric states and the
      ``on_epoch`` accumulators of every process; they are put back in the first batch of
      the resumed epoch.
    - It holds the ``step`` of the last row logged before the checkpoint; when the run
      resumes, the rows of the CSV logs (:class:`spt._loggers.RunCSVLogger`) after it are
      dropped. A run that starts from step 0 in a directory with an old ``metrics.csv`` moves
      that file aside (``metrics.<time>.csv``) instead.
    - When ``log_every_n_steps`` exceeds the optimizer steps of an epoch, Lightning would log
      no training row at all: the interval becomes one epoch, with one warning.

    Args:
        resuming: Whether the fit resumes from a checkpoint.
    """

    def __init__(self, resuming: bool = False) -> None:
        self.resuming = resuming
        self._trainer: pl.Trainer | None = None
        self._last_row_step = -1
        self._mid_epoch = False
        self._restored_row_step: int | None = None
        self._epoch_state: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return "RunLog(epoch accumulators in the checkpoint, CSV continued on resume)"

    @property
    @override
    def state_key(self) -> str:
        return "RunLog"

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_at_least_every_epoch(trainer)
        for logger in trainer.loggers:
            if not isinstance(logger, RunCSVLogger):
                continue
            if self._restored_row_step is not None:
                dropped = logger.keep_rows_through(self._restored_row_step)
                if dropped:
                    log.info(
                        "spt: %d rows of %s were logged after the checkpoint; dropped (the "
                        "resumed run logs them again)",
                        dropped,
                        logger.metrics_file,
                    )
            elif not self.resuming:
                moved = logger.move_aside()
                if moved is not None:
                    log.warning(
                        "spt: the run starts from step 0 and %s held an earlier log; moved to %s",
                        logger.metrics_file,
                        moved,
                    )

    def _log_at_least_every_epoch(self, trainer: pl.Trainer) -> None:
        batches = trainer.num_training_batches
        every = int(trainer.log_every_n_steps)  # type: ignore[attr-defined]
        if not every or not isinstance(batches, int) or batches <= 0 or math.isinf(batches):
            return
        steps = math.ceil(batches / max(1, trainer.accumulate_grad_batches))
        if every <= steps:
            return
        trainer.log_every_n_steps = steps  # type: ignore[attr-defined]
        if trainer.is_global_zero:
            log.warning(
                "spt: Trainer(log_every_n_steps=%d) exceeds the %d steps of an epoch, so no "
                "training row would be logged; logging at the end of every epoch (every %d "
                "steps) instead. Set trainer.log_every_n_steps to at most %d to choose.",
                every,
                steps,
                steps,
                steps,
            )

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        state, self._epoch_state = self._epoch_state, None
        if state is None:
            return
        missing = restore_metric_states(trainer, pl_module, state["metrics"])
        if missing:
            log.warning(
                "spt: the checkpoint holds the state of metrics that this run does not have: %s",
                ", ".join(missing),
            )
        resume_epoch_accumulators(trainer, state["accumulators"])

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._last_row_step = logged_step(trainer)  # this batch's row is written after the hooks
        self._mid_epoch = not is_last_batch(trainer)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._mid_epoch = False

    @override
    def state_dict(self) -> dict[str, Any]:
        trainer = self._trainer
        epoch: Any = None
        if trainer is not None and self._mid_epoch:  # at an epoch's end the next starts afresh
            own = {
                "metrics": metric_states(trainer, trainer.lightning_module),
                "accumulators": epoch_accumulators(trainer),
            }
            epoch = gather_per_rank(own)
        return {"last_row_step": self._last_row_step, "epoch": epoch}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored_row_step = int(state_dict["last_row_step"])
        self._last_row_step = self._restored_row_step
        epoch = state_dict.get("epoch")
        self._epoch_state = (
            None if epoch is None else select_own_rank(epoch, "the epoch's logged accumulators")
        )
