"""What the Manager sets up around a Trainer: run directory, log handler, loggers, callbacks."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as pl
from lightning.pytorch.callbacks import ModelCheckpoint

from spt._loggers import RunCSVLogger, start_wandb, wandb_logger

if TYPE_CHECKING:
    from spt._run_log import RunLog
    from spt.checkpoint import RunCheckpoint

log = logging.getLogger("spt")

__all__ = [
    "build_trainer",
    "default_run_dir",
    "ensure_log_handler",
    "has_implicit_logger",
    "install_callbacks",
    "is_lightning_default_checkpoint",
    "training_curves",
]


def default_run_dir() -> Path:
    """``spt_runs/<time>``, or ``spt_runs/slurm-<job id>`` under SLURM (a requeued job keeps it)."""
    job = os.environ.get("SLURM_JOB_ID")
    if job is not None:  # a requeued job keeps its id, so it finds its own checkpoint
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        return Path("spt_runs") / (f"slurm-{job}" + (f"_{task}" if task else ""))
    return Path("spt_runs") / time.strftime("%Y%m%d-%H%M%S")


def ensure_log_handler() -> None:
    """Show the ``spt`` logger's INFO lines when nobody configured logging (as Lightning does)."""
    if log.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def has_implicit_logger(trainer: pl.Trainer) -> bool:
    """True when the Trainer holds only the logger Lightning creates when none is given."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    if len(trainer.loggers) != 1:
        return False
    logger = trainer.loggers[0]
    if not isinstance(logger, (CSVLogger, TensorBoardLogger)) or logger.name != "lightning_logs":
        return False
    return Path(str(logger.save_dir)).resolve() == Path(trainer.default_root_dir).resolve()


def is_lightning_default_checkpoint(callback: pl.Callback) -> bool:
    """Whether ``callback`` is the ``ModelCheckpoint()`` Lightning adds when none is given.

    Its settings are all the defaults (``state_key`` holds monitor, mode and the intervals)
    and its folder is not resolved yet (Lightning resolves it in ``setup``, to
    ``<logger folder>/checkpoints``). A ``ModelCheckpoint`` configured by the user differs in
    one of them and is kept.
    """
    if not isinstance(callback, ModelCheckpoint):
        return False
    default = ModelCheckpoint()
    return (
        callback.state_key == default.state_key
        and callback.dirpath is None
        and callback.filename is None
        and callback.save_last is None
        and callback.save_top_k == default.save_top_k
        and callback.save_weights_only == default.save_weights_only
    )


def training_curves(callbacks: list[pl.Callback]) -> pl.Callback | None:
    """``spt.plots.TrainingCurves()`` (PNG curves at the end of fit), unless already there."""
    try:
        from spt.plots import TrainingCurves  # type: ignore[attr-defined, unused-ignore]
    except ImportError as exc:  # spt.plots is part of spt; only a partial install lacks it
        log.info("spt.Manager: no training-curve plots (%s)", exc)
        return None
    if any(isinstance(c, TrainingCurves) for c in callbacks):
        return None
    curves: pl.Callback = TrainingCurves()
    return curves


def build_trainer(
    spec: pl.Trainer | Mapping[str, Any],
    run_dir: Path,
    stage: str,
    wandb: Mapping[str, Any] | None,
) -> pl.Trainer:
    """The Trainer of a Manager, with its loggers: the CSV log of the run, wandb when asked.

    Lightning's implicit logger is replaced by a :class:`spt._loggers.RunCSVLogger` in
    ``run_dir/logs`` (``run_dir/logs/<stage>`` for the evaluation stages, beside the training
    log); a logger given by the user is kept. Every ``WandbLogger`` starts its run here, so
    that a missing API key or network fails before training, with the advice to run offline.
    """
    csv_logger = RunCSVLogger(run_dir, name="logs", version="" if stage == "fit" else stage)
    if isinstance(spec, pl.Trainer):
        trainer = spec
        if has_implicit_logger(trainer):
            trainer.loggers = [csv_logger]
    else:
        kwargs = dict(spec)
        kwargs.setdefault("logger", csv_logger)
        kwargs.setdefault("default_root_dir", str(run_dir))
        trainer = pl.Trainer(**kwargs)
    if wandb is not None:
        trainer.loggers = [*trainer.loggers, wandb_logger(run_dir, wandb)]
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            start_wandb(logger)
    return trainer


def install_callbacks(trainer: pl.Trainer, run_log: RunLog, checkpoint: RunCheckpoint) -> None:
    """Add the Manager's callbacks to ``trainer`` (and drop Lightning's default checkpoint).

    ``run_log`` goes first (it restores the epoch's state before other callbacks log), the
    checkpoint and the training curves last; earlier copies of them are replaced.
    """
    from spt._run_log import RunLog
    from spt.checkpoint import RunCheckpoint

    callbacks: list[pl.Callback] = []
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(callback, (RunCheckpoint, RunLog)):
            continue
        if is_lightning_default_checkpoint(callback):
            log.info(
                "spt.Manager: removed Lightning's default ModelCheckpoint (it would write a "
                "second copy of each checkpoint under logs/checkpoints)"
            )
            continue
        callbacks.append(callback)
    callbacks.insert(0, run_log)
    callbacks.append(checkpoint)
    added: list[pl.Callback] = [run_log, checkpoint]
    curves = training_curves(callbacks)
    if curves is not None:
        callbacks.append(curves)
        added.append(curves)
    trainer.callbacks = callbacks  # type: ignore[attr-defined]
    log.info("spt.Manager: added callbacks: %s", ", ".join(map(repr, added)))
    log.info("spt.Manager: trainer callbacks: %s", ", ".join(type(c).__name__ for c in callbacks))
