"""The Manager's checkpointing: atomic writes every N steps, at the end, and on SLURM signals."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as pl
from lightning.pytorch.callbacks import Checkpoint
from typing_extensions import override

from spt._lightning import cluster_environment, is_last_batch
from spt._resume import capture_rng, restore_rng

log = logging.getLogger("spt")

__all__ = ["RunCheckpoint", "atomic_save_checkpoint", "slurm_settings"]


def atomic_save_checkpoint(trainer: pl.Trainer, path: Path) -> None:
    """``trainer.save_checkpoint`` to a temporary file in the same folder, then ``os.replace``.

    A reader never sees a half-written file: the rename is atomic on POSIX file systems.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    trainer.save_checkpoint(tmp, weights_only=False)
    trainer.strategy.barrier("spt_checkpoint")
    if trainer.is_global_zero:
        os.replace(tmp, path)


def slurm_settings(trainer: pl.Trainer) -> dict[str, Any]:
    """:class:`RunCheckpoint` keywords that follow the Trainer's Lightning ``SLURMEnvironment``.

    Its ``requeue_signal`` (default SIGUSR1) and SIGTERM trigger the checkpoint; with
    ``SLURMEnvironment(auto_requeue=False)`` the job is not requeued. Outside SLURM: SIGUSR1
    and SIGTERM, and a requeue only when ``SLURM_JOB_ID`` is set.
    """
    from lightning.fabric.plugins.environments.slurm import SLURMEnvironment

    environment = cluster_environment(trainer)
    if not isinstance(environment, SLURMEnvironment):
        return {}
    requeue_signal = environment.requeue_signal or signal.SIGUSR1
    settings: dict[str, Any] = {"signals": (int(requeue_signal), int(signal.SIGTERM))}
    if not environment.auto_requeue:
        settings["requeue_command"] = None
    return settings


class RunCheckpoint(Checkpoint):
    """Writes ``path`` every ``every_n_steps`` optimizer steps, at the end of fit, and on a signal.

    On SIGUSR1 (SLURM's warning before the time limit) or SIGTERM the signal only sets a flag;
    at the end of the current batch the callback writes the checkpoint, asks SLURM to requeue
    the job (``scontrol requeue $SLURM_JOB_ID``, when ``SLURM_JOB_ID`` is set) and stops the
    Trainer. The requeued job finds the checkpoint in its run directory and resumes. A periodic
    checkpoint that falls on the last batch of an epoch is written at the end of that epoch
    (after validation): Lightning would resume one from the batch itself an epoch short.

    Args:
        path: The checkpoint file (its folder is created).
        every_n_steps: Write every this many optimizer steps; ``None`` or 0: only at the end.
        requeue_command: The command that requeues a SLURM job (the job id is appended);
            ``None`` never requeues (the checkpoint is still written).
        signals: The signals that trigger a checkpoint (default SIGUSR1 and SIGTERM).
    """

    def __init__(
        self,
        path: str | Path,
        every_n_steps: int | None = None,
        requeue_command: tuple[str, ...] | None = ("scontrol", "requeue"),
        signals: tuple[int, ...] = (signal.SIGUSR1, signal.SIGTERM),
    ) -> None:
        if every_n_steps is not None and every_n_steps < 0:
            raise ValueError(f"RunCheckpoint: every_n_steps={every_n_steps} must be >= 0 or None")
        self.path = Path(path)
        self.every_n_steps = every_n_steps or 0
        self.requeue_command = requeue_command
        self.signals = signals
        self.signal_received: int | None = None
        self._last_saved_step = -1
        self._rng_to_restore: dict[str, Any] | None = None
        self._due_at_epoch_end = False
        self._stopped_by_signal = False
        self._previous_handlers: dict[int, Any] = {}

    def __repr__(self) -> str:
        every = f"every {self.every_n_steps} steps and " if self.every_n_steps else ""
        names = "/".join(signal.Signals(s).name for s in self.signals)
        requeue = " + requeue" if self.requeue_command is not None else ""
        return f"RunCheckpoint({str(self.path)!r}, {every}at the end, on {names}{requeue})"

    def install_signal_handlers(self) -> None:
        """Catch SIGUSR1 and SIGTERM (main thread only); Lightning chains its own after these."""
        for signum in self.signals:
            try:
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)
            except ValueError:  # not the main thread
                return

    def restore_signal_handlers(self) -> None:
        """Put back the handlers that were there before :meth:`install_signal_handlers`."""
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous_handlers = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signal_received = signum

    def save(self, trainer: pl.Trainer) -> None:
        """Write the checkpoint now (atomically)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_checkpoint(trainer, self.path)
        self._last_saved_step = trainer.global_step
        log.info("spt: checkpoint at step %d written to %s", trainer.global_step, self.path)

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Sanity checking and setup draw random numbers that the interrupted run drew before it
        # wrote the checkpoint: start training from the random state the checkpoint saw.
        if self._rng_to_restore is not None:
            restore_rng(self._rng_to_restore)
            self._rng_to_restore = None

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        step = trainer.global_step
        due = (
            self.every_n_steps and step % self.every_n_steps == 0 and step != self._last_saved_step
        )
        if is_last_batch(trainer):
            # Lightning resumes a checkpoint written on an epoch's last batch one epoch short:
            # write it at the end of the epoch instead (after validation, as Lightning's own).
            self._due_at_epoch_end = bool(due)
        elif self.signal_received is not None:
            self._handle_signal(trainer)
        elif due:
            self.save(trainer)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        due, self._due_at_epoch_end = self._due_at_epoch_end, False
        if self.signal_received is not None:
            self._handle_signal(trainer)
        elif due:
            self.save(trainer)

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._stopped_by_signal:  # the signal's checkpoint is where the requeued job resumes
            return
        self.save(trainer)  # always: the loops' counters moved on since the last periodic save

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if self.signal_received is not None and trainer.global_step != self._last_saved_step:
            self._handle_signal(trainer)

    def _handle_signal(self, trainer: pl.Trainer) -> None:
        signum, self.signal_received = self.signal_received, None
        log.warning("spt: received signal %s; writing a checkpoint and stopping", signum)
        self.save(trainer)
        self._stopped_by_signal = True
        trainer.should_stop = True
        job_id = os.environ.get("SLURM_JOB_ID")
        if job_id is None or self.requeue_command is None or not trainer.is_global_zero:
            return
        array_job, array_task = (
            os.environ.get("SLURM_ARRAY_JOB_ID"),
            os.environ.get("SLURM_ARRAY_TASK_ID"),
        )
        if array_job and array_task:
            job_id = f"{array_job}_{array_task}"
        command = [*self.requeue_command, job_id]
        try:
            result = subprocess.run(command, check=False).returncode
        except FileNotFoundError:
            result = -1
        if result == 0:
            log.warning("spt: requeued SLURM job %s", job_id)
        else:
            log.warning(
                "spt: `%s` failed (%s); the job was not requeued", " ".join(command), result
            )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"last_saved_step": self._last_saved_step, "rng": capture_rng()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._last_saved_step = int(state_dict["last_saved_step"])
        self._rng_to_restore = state_dict.get("rng")
