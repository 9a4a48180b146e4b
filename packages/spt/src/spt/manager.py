"""The Manager: seed, run directory, loggers, checkpoint, exact resume, SLURM requeue, summary."""

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

log = logging.getLogger("spt")

__all__ = ["Manager", "load_backbone", "save_backbone"]


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
    4. adds one callback, :class:`spt.checkpoint.RunCheckpoint` (atomic writes of
       ``ckpt_path`` every ``ckpt_every_n_steps`` steps, at the end, and on SIGUSR1/SIGTERM
       with a SLURM requeue), and logs it;
    5. resumes from ``ckpt_path`` when that file exists, trains, and prints a table of the
       final metrics.

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
        if self.seed is not None:
            pl.seed_everything(self.seed, workers=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        trainer = self._build_trainer()
        self.trainer = trainer
        _ensure_log_handler()
        checkpoint = self.checkpoint_class(
            self.ckpt_path, self.ckpt_every_n_steps, **slurm_settings(trainer)
        )
        callbacks: list[pl.Callback] = [
            c
            for c in trainer.callbacks  # type: ignore[attr-defined]
            if not isinstance(c, RunCheckpoint)
        ]
        callbacks.append(checkpoint)
        trainer.callbacks = callbacks  # type: ignore[attr-defined]
        log.info("spt.Manager: run directory %s", self.run_dir.resolve())
        log.info("spt.Manager: added one callback: %r", checkpoint)
        log.info(
            "spt.Manager: trainer callbacks: %s",
            ", ".join(type(c).__name__ for c in callbacks),
        )
        resume = self.ckpt_path if self.ckpt_path.is_file() else None
        if resume is not None:
            log.info("spt.Manager: resuming from %s", resume)
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
        from lightning.pytorch.loggers import WandbLogger

        kwargs = dict(self.wandb or {})
        id_file = self.run_dir / "wandb_id.txt"
        if "id" not in kwargs:  # the same wandb run across resumes
            if id_file.is_file():
                kwargs["id"] = id_file.read_text().strip()
            else:
                kwargs["id"] = uuid.uuid4().hex[:12]
                id_file.write_text(kwargs["id"])
        kwargs.setdefault("resume", "allow")
        kwargs.setdefault("save_dir", str(self.run_dir))
        return WandbLogger(**kwargs)


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


def save_backbone(module: nn.Module, path: str | Path, attribute: str = "backbone") -> Path:
    """Write ``module.<attribute>``'s ``state_dict`` to ``path`` (atomically).

    Load it into a fresh network with :func:`load_backbone` (``torch.load(weights_only=True)``).

    Raises:
        AttributeError: If the module has no such attribute.
    """
    network = getattr(module, attribute, None)
    if not isinstance(network, nn.Module):
        raise AttributeError(
            f"save_backbone: the module has no network {attribute!r}; pass attribute=<name>"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(network.state_dict(), tmp)
    os.replace(tmp, path)
    return path


def load_backbone(network: nn.Module, path: str | Path, strict: bool = True) -> nn.Module:
    """Load weights written by :func:`save_backbone`, or a checkpoint's ``backbone.*`` entries."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if "state_dict" in state:  # a Lightning checkpoint: keep the backbone's entries
        prefix = "backbone."
        state = {
            k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)
        }
    network.load_state_dict(state, strict=strict)
    return network
