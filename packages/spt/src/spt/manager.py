"""The Manager: seed, run directory, loggers, checkpoint, exact resume, SLURM requeue, summary;
validate, test and predict with the same setup."""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as pl
import torch
from torch import nn

from spt._resume import ResumableDataModule
from spt.checkpoint import RunCheckpoint, slurm_settings
from spt.export import load_backbone, resolve_weights, save_backbone

log = logging.getLogger("spt")

__all__ = [
    "Manager",
    "load_backbone",
    "resolve_weights",
    "save_backbone",
    "summary_table",
    "wandb_logger",
]


def _default_run_dir() -> Path:
    job = os.environ.get("SLURM_JOB_ID")
    if job is not None:  # a requeued job keeps its id, so it finds its own checkpoint
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        return Path("spt_runs") / (f"slurm-{job}" + (f"_{task}" if task else ""))
    return Path("spt_runs") / time.strftime("%Y%m%d-%H%M%S")


class Manager:
    """Runs ``trainer.fit(module, data)`` as a resumable, logged, checkpointed job.

    Calling the Manager does, in order:

    1. seeds everything (``lightning.seed_everything(seed, workers=True)``) when ``seed`` is
       given;
    2. builds the Trainer when ``trainer`` is a dict of its arguments;
    3. replaces Lightning's implicit default logger with a CSV logger in the run directory
       (a logger you passed, or ``logger=False``, is kept) and adds a Weights & Biases logger
       when ``wandb`` is given (``WANDB_MODE=offline`` works);
    4. adds two callbacks and logs them: :class:`spt.checkpoint.RunCheckpoint` (atomic writes
       of ``ckpt_path`` every ``ckpt_every_n_steps`` steps, at the end, and on SIGUSR1/SIGTERM
       with a SLURM requeue) and ``spt.plots.TrainingCurves`` (PNG curves of the CSV log at
       the end of fit; it skips itself with one log line without matplotlib);
    5. resumes from ``ckpt_path`` when that file exists, trains, and prints a table of the
       final metrics.

    :meth:`validate`, :meth:`test` and :meth:`predict` do steps 1 to 3 and run the Trainer's
    stage of that name with the weights of ``ckpt_path`` when it exists.

    Resume is exact in a single process. The train loader is served through
    :class:`spt._resume.ResumableLoader`, so the shuffling order, the position in the epoch
    and the random states are in the checkpoint along with the parameters, optimizer,
    scheduler, callback states and global step (``docs/manager.md`` has the table of who
    saves what). Checkpoints are loaded with ``weights_only=True``. With several processes the
    loader is not wrapped: a resume continues at the saved epoch, not at the saved batch.

    Args:
        trainer: A ``lightning.Trainer``, or a dict of its arguments.
        module: The LightningModule (``spt.Module``).
        data: A LightningDataModule (``spt.data.DataModule``).
        seed: Global seed; ``None`` leaves the random state alone.
        ckpt_path: The checkpoint to write and resume from (default
            ``run_dir/checkpoints/last.ckpt``).
        run_dir: Folder for logs and checkpoints (default ``spt_runs/<time>``, or
            ``spt_runs/slurm-<job id>`` under SLURM so a requeued job finds its checkpoint).
        ckpt_every_n_steps: Also checkpoint every this many optimizer steps (``None``: only at
            the end and on signals).
        wandb: Keyword arguments of ``lightning.pytorch.loggers.WandbLogger`` (project, entity,
            ...), or ``None`` for no wandb.
        save_backbone: At the end, write ``module.backbone``'s weights to
            ``run_dir/backbone.pt`` (when the module has a ``backbone``); load them into a fresh
            network with :func:`load_backbone`.

    Raises:
        TypeError: If ``trainer``, ``module`` or ``data`` is not of the types above.

    Examples:
        >>> manager = Manager(trainer=trainer, module=module, data=data, seed=0)  # doctest: +SKIP
        >>> metrics = manager()  # doctest: +SKIP
    """

    checkpoint_class: type[RunCheckpoint] = RunCheckpoint

    def __init__(
        self,
        trainer: pl.Trainer | Mapping[str, Any],
        module: pl.LightningModule,
        data: pl.LightningDataModule,
        seed: int | None = None,
        ckpt_path: str | Path | None = None,
        run_dir: str | Path | None = None,
        ckpt_every_n_steps: int | None = None,
        wandb: Mapping[str, Any] | None = None,
        save_backbone: bool = True,
    ) -> None:
        if not isinstance(trainer, (pl.Trainer, Mapping)):
            raise TypeError(
                f"Manager: trainer must be a lightning.Trainer or a dict of its arguments, "
                f"got {type(trainer).__name__}"
            )
        if not isinstance(module, pl.LightningModule):
            raise TypeError(
                "Manager: module must be a LightningModule (spt.Module), "
                f"got {type(module).__name__}"
            )
        if not isinstance(data, pl.LightningDataModule):
            raise TypeError(
                "Manager: data must be a LightningDataModule, "
                "e.g. spt.data.DataModule(train=loader), "
                f"got {type(data).__name__}"
            )
        self.trainer_spec = trainer
        self.module = module
        self.data = data
        self.seed = seed
        self.run_dir = Path(run_dir) if run_dir is not None else _default_run_dir()
        self.ckpt_path = (
            Path(ckpt_path) if ckpt_path is not None else self.run_dir / "checkpoints" / "last.ckpt"
        )
        self.ckpt_every_n_steps = ckpt_every_n_steps
        self.wandb = dict(wandb) if wandb is not None else None
        self.save_backbone = save_backbone
        self.trainer: pl.Trainer | None = None
        self.metrics: dict[str, float] = {}

    def __call__(self) -> dict[str, float]:
        """Train (resuming when a checkpoint exists) and return the final metrics."""
        trainer = self._setup()
        checkpoint = self.checkpoint_class(
            self.ckpt_path, self.ckpt_every_n_steps, **slurm_settings(trainer)
        )
        callbacks: list[pl.Callback] = [
            c
            for c in trainer.callbacks  # type: ignore[attr-defined]
            if not isinstance(c, RunCheckpoint)
        ]
        callbacks.append(checkpoint)
        curves = _training_curves(callbacks)
        if curves is not None:
            callbacks.append(curves)
        trainer.callbacks = callbacks  # type: ignore[attr-defined]
        added = [checkpoint] if curves is None else [checkpoint, curves]
        log.info("spt.Manager: added callbacks: %s", ", ".join(map(repr, added)))
        log.info(
            "spt.Manager: trainer callbacks: %s",
            ", ".join(type(c).__name__ for c in callbacks),
        )
        resume = self._existing_checkpoint("resuming from")
        data: pl.LightningDataModule = self.data
        if trainer.world_size == 1:
            data = ResumableDataModule(self.data)
        else:
            log.warning(
                "spt.Manager: %d processes: resume restores the epoch but not the position in it",
                trainer.world_size,
            )
        checkpoint.install_signal_handlers()
        try:
            trainer.fit(self.module, datamodule=data, ckpt_path=resume, weights_only=True)
        except SystemExit as exc:  # Lightning's SIGTERMException after a signal
            if checkpoint.signal_received is None and not trainer.should_stop:
                raise
            log.warning(
                "spt.Manager: stopped by a signal (%s); checkpoint in %s", exc, self.ckpt_path
            )
        finally:
            checkpoint.restore_signal_handlers()
        self.metrics = _final_metrics(trainer)
        if trainer.is_global_zero:
            if self.save_backbone and isinstance(getattr(self.module, "backbone", None), nn.Module):
                path = save_backbone(self.module, self.run_dir / "backbone.pt")
                log.info(
                    "spt.Manager: backbone weights written to %s (load: spt.manager.load_backbone)",
                    path,
                )
            if self.metrics:
                print(summary_table(self.metrics))
        return self.metrics

    def validate(self) -> dict[str, float]:
        """``trainer.validate`` with the same setup as a fit, from the checkpoint if one exists.

        Returns:
            The validation metrics (also printed as a table).
        """
        return self._evaluate("validate")

    def test(self) -> dict[str, float]:
        """``trainer.test`` with the same setup as a fit, from the checkpoint if one exists.

        Returns:
            The test metrics (also printed as a table).
        """
        return self._evaluate("test")

    def predict(self) -> list[Any]:
        """``trainer.predict`` on the data's predict loader, from the checkpoint if one exists.

        Returns:
            What the module's ``predict_step`` returned, one item per batch (this process's
            batches under DDP).
        """
        trainer = self._setup()
        return list(
            trainer.predict(
                self.module,
                datamodule=self.data,
                ckpt_path=self._existing_checkpoint("weights from"),
                weights_only=True,
                return_predictions=True,
            )
            or []
        )

    def _evaluate(self, stage: str) -> dict[str, float]:
        trainer = self._setup()
        run = trainer.validate if stage == "validate" else trainer.test
        results = run(
            self.module,
            datamodule=self.data,
            ckpt_path=self._existing_checkpoint("weights from"),
            weights_only=True,
        )
        metrics: dict[str, float] = {}
        for result in results:
            metrics.update({k: float(v) for k, v in result.items()})
        self.metrics = dict(sorted(metrics.items()))
        if trainer.is_global_zero and self.metrics:
            print(summary_table(self.metrics))
        return self.metrics

    def _setup(self) -> pl.Trainer:
        """Seed, create the run directory, build the Trainer and its loggers (every stage)."""
        if self.seed is not None:
            pl.seed_everything(self.seed, workers=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        trainer = self._build_trainer()
        self.trainer = trainer
        _ensure_log_handler()
        log.info("spt.Manager: run directory %s", self.run_dir.resolve())
        return trainer

    def _existing_checkpoint(self, verb: str) -> Path | None:
        if not self.ckpt_path.is_file():
            return None
        log.info("spt.Manager: %s %s", verb, self.ckpt_path)
        return self.ckpt_path

    def _build_trainer(self) -> pl.Trainer:
        spec = self.trainer_spec
        if isinstance(spec, pl.Trainer):
            trainer = spec
            if _has_implicit_logger(trainer):
                trainer.loggers = [self._csv_logger()]
        else:
            kwargs = dict(spec)
            if "logger" not in kwargs:
                kwargs["logger"] = self._csv_logger()
            kwargs.setdefault("default_root_dir", str(self.run_dir))
            trainer = pl.Trainer(**kwargs)
        if self.wandb is not None:
            trainer.loggers = [*trainer.loggers, self._wandb_logger()]
        return trainer

    def _csv_logger(self) -> Any:
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(self.run_dir), name="logs", version="")

    def _wandb_logger(self) -> Any:
        return wandb_logger(self.run_dir, self.wandb or {})


def wandb_logger(run_dir: Path, settings: Mapping[str, Any]) -> Any:
    """A ``WandbLogger`` that continues the wandb run of ``run_dir`` (its id in ``wandb_id.txt``).

    Args:
        run_dir: The run directory.
        settings: Keyword arguments of ``WandbLogger`` (project, entity, ...).
    """
    from lightning.pytorch.loggers import WandbLogger

    kwargs = dict(settings)
    id_file = run_dir / "wandb_id.txt"
    if "id" not in kwargs:  # the same wandb run across resumes and offline evaluations
        if id_file.is_file():
            kwargs["id"] = id_file.read_text().strip()
        else:
            kwargs["id"] = uuid.uuid4().hex[:12]
            id_file.write_text(kwargs["id"])
    kwargs.setdefault("resume", "allow")
    kwargs.setdefault("save_dir", str(run_dir))
    return WandbLogger(**kwargs)


def _training_curves(callbacks: list[pl.Callback]) -> pl.Callback | None:
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


def _ensure_log_handler() -> None:
    """Show the ``spt`` logger's INFO lines when nobody configured logging (as Lightning does)."""
    if log.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def _has_implicit_logger(trainer: pl.Trainer) -> bool:
    """True when the Trainer holds only the logger Lightning creates when none is given."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    if len(trainer.loggers) != 1:
        return False
    logger = trainer.loggers[0]
    if not isinstance(logger, (CSVLogger, TensorBoardLogger)) or logger.name != "lightning_logs":
        return False
    return Path(str(logger.save_dir)).resolve() == Path(trainer.default_root_dir).resolve()


def _final_metrics(trainer: pl.Trainer) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for name, value in sorted(trainer.callback_metrics.items()):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            metrics[name] = float(value.item())
        elif isinstance(value, (int, float)):
            metrics[name] = float(value)
    return metrics


def summary_table(metrics: Mapping[str, float]) -> str:
    """The final metrics as an aligned two-column table."""
    from spt_optim import format_table

    rows = [{"metric": k, "value": v if math.isfinite(v) else str(v)} for k, v in metrics.items()]
    return format_table(rows, ["metric", "value"])
