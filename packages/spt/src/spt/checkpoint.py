"""The Manager's one checkpoint policy: ``last.ckpt``, every N steps, best k, on signals.

Every file is written atomically (a temporary file renamed over the target). The policy:

- ``checkpoints/last.ckpt``: the resume point, written every ``every_n_steps`` optimizer
  steps, at the end of fit and when a signal stops the run;
- ``checkpoints/step-XXXXXXXX.ckpt``: with ``keep`` > 0, the newest ``keep`` of the periodic
  checkpoints (-1: all of them);
- ``checkpoints/best-step-XXXXXXXX.ckpt``: with ``monitor``, the ``best_k`` checkpoints by
  that metric, judged after each validation.

Only the files this policy wrote are ever deleted (their names are in the checkpoint).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as pl
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.trainer.states import TrainerFn
from typing_extensions import override

from spt._interrupt import Interruption, SignalStop, signal_name
from spt._lightning import cluster_environment, is_last_batch
from spt._resume import capture_rng, gather_per_rank, restore_rng, select_own_rank
from spt._retention import BestCheckpoints, StepCheckpoints, link_or_copy

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
    """Writes ``path`` every ``every_n_steps`` steps, at the end and on a signal; keeps copies.

    On SIGUSR1 (SLURM's warning before the time limit) or SIGTERM the signal only sets a flag
    (during training this handler replaces Lightning's own). At the end of the current batch
    the callback writes the checkpoint, asks SLURM to requeue the job (``scontrol requeue
    $SLURM_JOB_ID``, when ``SLURM_JOB_ID`` is set) and stops the run before the next batch
    (:class:`spt._interrupt.SignalStop`). Under DDP the processes agree on the signal at each
    batch end (one all-reduce), so they all write and stop together. A checkpoint due on the
    last batch of an epoch is written at the end of that epoch (after validation): Lightning
    would resume one from the batch itself an epoch short.

    Args:
        path: The checkpoint file, ``last.ckpt`` (its folder is created).
        every_n_steps: Write every this many optimizer steps; ``None`` or 0: only at the end.
        keep: Also keep the newest ``keep`` periodic checkpoints as ``step-XXXXXXXX.ckpt``
            beside ``path`` (-1: all; 0: none).
        monitor: A logged metric: keep the ``best_k`` checkpoints by it, judged after each
            validation, as ``best-step-XXXXXXXX.ckpt``; ``None``: no best checkpoints.
        mode: ``"min"`` or ``"max"``: whether lower or higher ``monitor`` is better.
        best_k: How many best checkpoints to keep.
        requeue_command: The command that requeues a SLURM job (the job id is appended);
            ``None`` never requeues (the checkpoint is still written).
        signals: The signals that trigger a checkpoint (default SIGUSR1 and SIGTERM).

    Raises:
        ValueError: For a negative ``every_n_steps``, ``keep`` < -1, a ``mode`` other than
            min/max or ``best_k`` < 1.
    """

    def __init__(
        self,
        path: str | Path,
        every_n_steps: int | None = None,
        keep: int = 0,
        monitor: str | None = None,
        mode: str = "min",
        best_k: int = 1,
        requeue_command: tuple[str, ...] | None = ("scontrol", "requeue"),
        signals: tuple[int, ...] = (signal.SIGUSR1, signal.SIGTERM),
    ) -> None:
        if every_n_steps is not None and every_n_steps < 0:
            raise ValueError(f"RunCheckpoint: every_n_steps={every_n_steps} must be >= 0 or None")
        if not isinstance(keep, int) or keep < -1:
            raise ValueError(f"RunCheckpoint: keep={keep!r} must be -1 (all), 0 (none) or a count")
        if keep and not every_n_steps:
            raise ValueError(
                f"RunCheckpoint: keep={keep} keeps periodic checkpoints, but every_n_steps="
                f"{every_n_steps} writes none; set every_n_steps (manager.ckpt_every_n_steps)"
            )
        self.path = Path(path)
        self.every_n_steps = every_n_steps or 0
        self.steps = StepCheckpoints(keep)
        self.best = BestCheckpoints(monitor, mode, best_k) if monitor is not None else None
        self.requeue_command = requeue_command
        self.signals = signals
        self.signal_received: int | None = None
        self.interruption: Interruption | None = None
        self._last_saved_step = -1
        self._rng_to_restore: dict[str, Any] | None = None
        self._due_at_epoch_end = False
        self._previous_handlers: dict[int, Any] = {}

    def __repr__(self) -> str:
        every = f"every {self.every_n_steps} steps and " if self.every_n_steps else ""
        keep = {0: "", -1: ", keeps every periodic one"}.get(
            self.steps.keep, f", keeps the newest {self.steps.keep}"
        )
        best = (
            f", best {self.best.best_k} by {self.best.mode} {self.best.monitor}"
            if self.best
            else ""
        )
        names = "/".join(signal_name(s) for s in self.signals)
        requeue = " + requeue" if self.requeue_command is not None else ""
        return (
            f"RunCheckpoint({str(self.path)!r}, {every}at the end, on {names}{requeue}{keep}{best})"
        )

    @property
    def folder(self) -> Path:
        """Where the checkpoints go (the folder of ``last.ckpt``)."""
        return self.path.parent

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
        """Write ``last.ckpt`` now (atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_save_checkpoint(trainer, self.path)
        self._last_saved_step = trainer.global_step
        log.info("spt: checkpoint at step %d written to %s", trainer.global_step, self.path)

    def _save_periodic(self, trainer: pl.Trainer) -> None:
        name = self.steps.add(trainer.global_step)  # in the state before it is written
        self.save(trainer)
        if name is None or not trainer.is_global_zero:
            return
        link_or_copy(self.path, self.folder / name)
        for old in self.steps.expired():
            (self.folder / old).unlink(missing_ok=True)

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Sanity checking and setup draw random numbers that the interrupted run drew before it
        # wrote the checkpoint: start training from the random state the checkpoint saw.
        if self._rng_to_restore is not None:
            restore_rng(self._rng_to_restore)
            self._rng_to_restore = None
        if self._previous_handlers:
            # Lightning registered its SIGTERM handler at fit start; it would end the epoch loop
            # with an exception wherever it stands. This one stops after a checkpoint.
            for signum in self.signals:
                signal.signal(signum, self._on_signal)

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.interruption is not None:
            raise SignalStop(self.interruption)

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.interruption is not None:
            raise SignalStop(self.interruption)

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
            return
        signum = self._agreed_signal(trainer)
        if signum is not None:
            self._handle_signal(trainer, signum)
        elif due:
            self._save_periodic(trainer)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        due, self._due_at_epoch_end = self._due_at_epoch_end, False
        signum = self._agreed_signal(trainer)
        if signum is not None:
            self._handle_signal(trainer, signum)
        elif due:
            self._save_periodic(trainer)

    @override
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.best is None or trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        monitor = self.best.monitor
        value = trainer.callback_metrics.get(monitor)
        if value is None:
            logged = ", ".join(sorted(trainer.callback_metrics)) or "none"
            raise ValueError(
                f"RunCheckpoint: monitor={monitor!r} was not logged by validation; the logged "
                f"metrics are: {logged}. Set the monitor (manager.ckpt_monitor) to one of them."
            )
        score = float(trainer.strategy.broadcast(float(value), src=0))  # one decision for all
        name, dropped = self.best.offer(score, trainer.global_step)
        if name is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_save_checkpoint(trainer, self.folder / name)
        log.info("spt: %s = %.6g: checkpoint %s", monitor, score, self.folder / name)
        if trainer.is_global_zero:
            for old in dropped:
                (self.folder / old).unlink(missing_ok=True)

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.interruption = None  # a signal on the last batch: the run finished all the same
        self.save(trainer)  # always: the loops' counters moved on since the last periodic save

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, SignalStop) or self.signal_received is None:
            return
        if trainer.global_step != self._last_saved_step and trainer.world_size == 1:
            # a signal before training started: Lightning's own handler stopped the run
            self._handle_signal(trainer, self.signal_received)

    def _agreed_signal(self, trainer: pl.Trainer) -> int | None:
        """The signal this process received, or under DDP the one any process received."""
        local = self.signal_received or 0
        if trainer.world_size > 1:
            flag = torch.tensor(local, device=trainer.strategy.root_device)
            local = int(trainer.strategy.reduce(flag, reduce_op="max").item())
        return local or None

    def _handle_signal(self, trainer: pl.Trainer, signum: int) -> None:
        self.signal_received = None
        log.warning("spt: received %s; writing a checkpoint and stopping", signal_name(signum))
        self.save(trainer)
        requeued = self._requeue(trainer)
        if trainer.world_size > 1:
            requeued = bool(trainer.strategy.broadcast(requeued, src=0))
        self.interruption = Interruption(signum, trainer.global_step, self.path, requeued)

    def _requeue(self, trainer: pl.Trainer) -> bool:
        job_id = os.environ.get("SLURM_JOB_ID")
        if job_id is None or self.requeue_command is None or not trainer.is_global_zero:
            return False
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
            return True
        log.warning("spt: `%s` failed (%s); the job was not requeued", " ".join(command), result)
        return False

    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "last_saved_step": self._last_saved_step,
            "rng": gather_per_rank(capture_rng()),
            "step_files": list(self.steps.names),
            "best": [list(e) for e in self.best.entries] if self.best is not None else [],
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._last_saved_step = int(state_dict["last_saved_step"])
        self._rng_to_restore = select_own_rank(state_dict.get("rng"), "the random state")
        self.steps.names = list(state_dict.get("step_files", []))
        if self.best is not None:
            self.best.entries = [list(e) for e in state_dict.get("best", [])]
