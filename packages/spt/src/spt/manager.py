"""The Manager: seed, run directory, loggers, checkpoints, exact resume, SLURM requeue, results;
validate, test and predict with the same setup."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as pl
from torch import nn

from spt._interrupt import Interruption, RunInterrupted, SignalStop
from spt._loggers import wandb_logger
from spt._process_group import (
    DEFAULT_COLLECTIVE_TIMEOUT,
    apply_collective_timeout,
    check_collective_timeout,
    report_collective_failure,
)
from spt._results import (
    RunRecord,
    final_metrics,
    finished_run,
    loop_limits,
    report_finished,
    summary_table,
)
from spt._resume import ResumableDataModule
from spt._run_log import RunLog
from spt._run_setup import (
    build_trainer,
    default_run_dir,
    ensure_log_handler,
    install_callbacks,
)
from spt.checkpoint import RunCheckpoint, slurm_settings
from spt.export import load_backbone, resolve_weights, save_backbone
from spt_module.fsdp import reject_fsdp1

log = logging.getLogger("spt")

__all__ = [
    "Manager",
    "RunInterrupted",
    "load_backbone",
    "resolve_weights",
    "save_backbone",
    "summary_table",
    "wandb_logger",
]


class Manager:
    """Runs ``trainer.fit(module, data)`` as a resumable, logged, checkpointed job.

    Calling the Manager does, in order:

    1. returns at once, printing the stored table, when ``run_dir`` holds a finished run of the
       same length (``results.json`` says ``complete``): nothing is written;
    2. seeds everything (``lightning.seed_everything(seed, workers=True)``) when ``seed`` is
       given;
    3. builds the Trainer when ``trainer`` is a dict of its arguments;
    4. replaces Lightning's implicit default logger with a CSV logger in the run directory
       (a logger you passed, or ``logger=False``, is kept), continued across resumes, and adds
       a Weights & Biases logger when ``wandb`` is given (``WANDB_MODE=offline`` works);
    5. removes Lightning's default ``ModelCheckpoint`` (a second copy of every checkpoint) and
       adds three callbacks, which it logs: :class:`spt._run_log.RunLog` (the log across
       resumes), :class:`spt.checkpoint.RunCheckpoint` (the checkpoint policy: ``last.ckpt``
       every ``ckpt_every_n_steps`` steps, at the end and on SIGUSR1/SIGTERM; the newest
       ``ckpt_keep`` periodic copies; the ``ckpt_best_k`` best by ``ckpt_monitor``) and
       ``spt.plots.TrainingCurves`` (PNG curves of the CSV log at the end of fit);
    6. resumes from ``ckpt_path`` when that file exists, trains, writes ``backbone.pt``,
       ``results.json`` and ``results.txt`` and prints the table of the final metrics.

    A run stopped by SIGTERM or SIGUSR1 writes its checkpoint, records itself as
    ``interrupted`` in ``results.json`` (signal, step, checkpoint), writes no final artefact
    and raises :class:`RunInterrupted` (exit status 128 + the signal's number); a SLURM job
    that was requeued returns instead, and the requeued job resumes.

    :meth:`validate`, :meth:`test` and :meth:`predict` do steps 2 to 4 and run the Trainer's
    stage of that name with the weights of ``ckpt_path`` when it exists.

    Resume is exact, in one process and under DDP. The train loader is served through
    :class:`spt._resume.ResumableLoader`, so the shuffling order, the position in the epoch
    and the random states (of every process) are in the checkpoint along with the parameters,
    optimizer, scheduler, callback states, the epoch's metric accumulators and the global step
    (``docs/manager.md`` has the table of who saves what). Checkpoints are loaded with
    ``weights_only=True``.

    Args:
        trainer: A ``lightning.Trainer``, or a dict of its arguments.
        module: The LightningModule (``spt.Module``).
        data: A LightningDataModule (``spt.data.DataModule``).
        seed: Global seed; ``None`` leaves the random state alone.
        ckpt_path: The checkpoint to write and resume from (default
            ``run_dir/checkpoints/last.ckpt``).
        run_dir: Folder for logs, checkpoints and results (default ``spt_runs/<time>``, or
            ``spt_runs/slurm-<job id>`` under SLURM so a requeued job finds its checkpoint).
        ckpt_every_n_steps: Also checkpoint every this many optimizer steps (``None``: only at
            the end and on signals).
        ckpt_keep: Keep the newest this many periodic checkpoints as ``step-XXXXXXXX.ckpt``
            (-1: all; 0: only ``last.ckpt``).
        ckpt_monitor: A logged validation metric; keep the ``ckpt_best_k`` best checkpoints by
            it as ``best-step-XXXXXXXX.ckpt``.
        ckpt_mode: ``"min"`` or ``"max"``: whether lower or higher ``ckpt_monitor`` is better.
        ckpt_best_k: How many best checkpoints to keep.
        wandb: Keyword arguments of ``lightning.pytorch.loggers.WandbLogger`` (project, entity,
            mode, ...), or ``None`` for no wandb.
        save_backbone: At the end, write ``module.backbone``'s weights to
            ``run_dir/backbone.pt`` (when the module has a ``backbone``); load them into a fresh
            network with :func:`load_backbone`.
        config: The configuration the run came from (the ``spt`` command passes its composed
            config), recorded in ``results.json``.
        collective_timeout: Seconds a process of a multi-process run waits in a collective
            for the others before it fails with a message saying that another process died
            or hung (default 600; ``None`` keeps Lightning's 30 minutes; a ``timeout=`` given
            to the strategy is kept).

    Raises:
        TypeError: If ``trainer``, ``module`` or ``data`` is not of the types above.
        ValueError: For a checkpoint policy that cannot work (see :class:`RunCheckpoint`).

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
        ckpt_keep: int = 0,
        ckpt_monitor: str | None = None,
        ckpt_mode: str = "min",
        ckpt_best_k: int = 1,
        wandb: Mapping[str, Any] | None = None,
        save_backbone: bool = True,
        config: Mapping[str, Any] | None = None,
        collective_timeout: float | None = DEFAULT_COLLECTIVE_TIMEOUT,
    ) -> None:
        if not isinstance(trainer, (pl.Trainer, Mapping)):
            raise TypeError(
                f"Manager: trainer must be a lightning.Trainer or a dict of its arguments, "
                f"got {type(trainer).__name__}"
            )
        if isinstance(trainer, Mapping):  # spt's advice before Lightning's "requires a GPU"
            reject_fsdp1(trainer.get("strategy"), where="Manager: trainer['strategy']")
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
        self.run_dir = Path(run_dir) if run_dir is not None else default_run_dir()
        self.ckpt_path = (
            Path(ckpt_path) if ckpt_path is not None else self.run_dir / "checkpoints" / "last.ckpt"
        )
        self.ckpt_every_n_steps = ckpt_every_n_steps
        self.policy: dict[str, Any] = {
            "every_n_steps": ckpt_every_n_steps,
            "keep": ckpt_keep,
            "monitor": ckpt_monitor,
            "mode": ckpt_mode,
            "best_k": ckpt_best_k,
        }
        RunCheckpoint(self.ckpt_path, **self.policy)  # refuses a policy that cannot work, now
        self.wandb = dict(wandb) if wandb is not None else None
        self.save_backbone = save_backbone
        self.config = config
        self.collective_timeout = check_collective_timeout(collective_timeout)
        self.trainer: pl.Trainer | None = None
        self.metrics: dict[str, float] = {}

    def __call__(self) -> dict[str, float]:
        """Train (resuming when a checkpoint exists) and return the final metrics.

        Raises:
            RunInterrupted: When SIGTERM or SIGUSR1 stopped the run (after its checkpoint),
                unless the SLURM job was requeued.
        """
        limits = self._limits()
        finished = finished_run(self.run_dir, limits)
        if finished is not None:
            self.metrics = report_finished(self.run_dir, finished)
            return self.metrics
        trainer = self._setup("fit")
        checkpoint = self.checkpoint_class(self.ckpt_path, **self.policy, **slurm_settings(trainer))
        resume = self._existing_checkpoint("resuming from")
        install_callbacks(trainer, RunLog(resuming=resume is not None), checkpoint)
        record = RunRecord(self.run_dir) if trainer.is_global_zero else None
        if record is not None:
            record.start(
                config=self.config,
                manager=self._settings(),
                seed=self.seed,
                limits=limits,
                resumed_from=resume,
            )
        data = ResumableDataModule(self.data)
        checkpoint.install_signal_handlers()
        try:
            trainer.fit(self.module, datamodule=data, ckpt_path=resume, weights_only=True)
        except SignalStop as stop:
            return self._interrupted(trainer, record, stop.interruption)
        except SystemExit as exc:  # Lightning's SIGTERMException, a signal before training
            if checkpoint.interruption is None:
                self._failed(record, exc)
                raise
            return self._interrupted(trainer, record, checkpoint.interruption)
        except BaseException as exc:
            report_collective_failure(exc, trainer, self.ckpt_path, self.collective_timeout)
            self._failed(record, exc)
            raise
        finally:
            checkpoint.restore_signal_handlers()
        return self._complete(trainer, record, checkpoint)

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
        trainer = self._setup("predict")
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
        trainer = self._setup(stage)
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

    def _limits(self) -> dict[str, int]:
        spec = self.trainer_spec
        if isinstance(spec, pl.Trainer):
            return loop_limits(spec.max_epochs, spec.max_steps)
        return loop_limits(spec.get("max_epochs"), spec.get("max_steps", -1))

    def _settings(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "ckpt_path": self.ckpt_path,
            **{f"ckpt_{k}": v for k, v in self.policy.items()},
            "wandb": self.wandb,
            "save_backbone": self.save_backbone,
            "collective_timeout": self.collective_timeout,
        }

    def _setup(self, stage: str) -> pl.Trainer:
        """Seed, create the run directory, build the Trainer and its loggers (every stage)."""
        if self.seed is not None:
            pl.seed_everything(self.seed, workers=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        trainer = build_trainer(self.trainer_spec, self.run_dir, stage, self.wandb)
        apply_collective_timeout(trainer, self.collective_timeout)
        self.trainer = trainer
        ensure_log_handler()
        log.info("spt.Manager: run directory %s", self.run_dir.resolve())
        return trainer

    def _complete(
        self, trainer: pl.Trainer, record: RunRecord | None, checkpoint: RunCheckpoint
    ) -> dict[str, float]:
        self.metrics = final_metrics(trainer)
        if record is None:
            return self.metrics
        backbone = None
        if self.save_backbone and isinstance(getattr(self.module, "backbone", None), nn.Module):
            # save_backbone logs the file and which network it holds (student or teacher)
            backbone = save_backbone(self.module, self.run_dir / "backbone.pt")
        best = checkpoint.best.summary(checkpoint.folder) if checkpoint.best is not None else []
        record.finish(
            "complete",
            metrics=self.metrics,
            checkpoint=self.ckpt_path,
            best_checkpoints=best,
            backbone=backbone,
            global_step=trainer.global_step,
            epoch=trainer.current_epoch,
        )
        if self.metrics:
            print(summary_table(self.metrics))
        log.info("spt.Manager: results in %s", record.path)
        return self.metrics

    def _interrupted(
        self, trainer: pl.Trainer, record: RunRecord | None, interruption: Interruption
    ) -> dict[str, float]:
        self.metrics = {}
        if record is not None:
            log.warning("spt.Manager: %s", interruption.describe())
            record.finish(
                "interrupted",
                checkpoint=interruption.checkpoint,
                interruption=interruption.as_dict(),
                global_step=trainer.global_step,
                epoch=trainer.current_epoch,
            )
        if interruption.requeued:
            return self.metrics
        raise RunInterrupted(interruption)

    @staticmethod
    def _failed(record: RunRecord | None, exc: BaseException) -> None:
        if record is not None:
            record.finish("failed", error=f"{type(exc).__name__}: {exc}")

    def _existing_checkpoint(self, verb: str) -> Path | None:
        if not self.ckpt_path.is_file():
            return None
        log.info("spt.Manager: %s %s", verb, self.ckpt_path)
        return self.ckpt_path
