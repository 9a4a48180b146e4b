"""Callbacks that draw: training curves at the end of fit, latent maps every N epochs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from spt.embed._writer import read_step_value, step_keys
from spt.plots._curves import plot_run
from spt.plots._latent import draw_latent_map
from spt.plots._mpl import matplotlib_missing

log = logging.getLogger("spt")

__all__ = ["LatentMap", "TrainingCurves", "plots_dir"]


def _csv_logger(trainer: pl.Trainer) -> Any:
    from lightning.pytorch.loggers import CSVLogger

    return next((lg for lg in trainer.loggers if isinstance(lg, CSVLogger)), None)


def plots_dir(trainer: pl.Trainer) -> Path:
    """Where a run's pictures go: ``RUN/plots`` beside ``RUN/logs`` (an spt run directory),
    else ``plots`` in the CSV logger's folder, else in ``trainer.default_root_dir``."""
    logger = _csv_logger(trainer)
    if logger is None:
        return Path(trainer.default_root_dir) / "plots"
    log_dir = Path(logger.log_dir)
    return (log_dir.parent if log_dir.name == "logs" else log_dir) / "plots"


class TrainingCurves(Callback):
    """At the end of fit, PNG curves of the metrics in the run's CSV log, in ``RUN/plots``.

    Draws ``loss.png``, ``accuracy.png`` (online probe, kNN), ``rank.png`` (RankMe, LiDAR),
    ``lr.png`` and one file per other metric, from the ``metrics.csv`` of the first
    ``CSVLogger`` of the Trainer (the Manager's logger: ``RUN/logs/metrics.csv``). Without
    matplotlib (the extra ``spt[plots]``) or without a CSV logger it logs one line and draws
    nothing. ``spt plot RUN`` draws the same files again.

    Args:
        dirpath: Folder of the PNGs (default: :func:`plots_dir`).

    Examples:
        >>> trainer = pl.Trainer(callbacks=[TrainingCurves()])  # doctest: +SKIP
    """

    def __init__(self, dirpath: str | Path | None = None) -> None:
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.written: list[Path] = []

    def __repr__(self) -> str:
        where = str(self.dirpath) if self.dirpath is not None else "RUN/plots"
        return f"TrainingCurves({where!r})"

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Draw the curves (on global rank 0)."""
        if not trainer.is_global_zero:
            return
        missing = matplotlib_missing()
        logger = _csv_logger(trainer)
        if missing is not None or logger is None:
            reason = missing or "the Trainer has no CSVLogger"
            log.info("TrainingCurves: no training curves: %s", reason)
            return
        logger.save()  # the CSV logger writes its rows in batches
        metrics = Path(logger.log_dir) / "metrics.csv"
        if not metrics.is_file():
            log.info("TrainingCurves: no training curves: nothing logged in %s", metrics)
            return
        out = self.dirpath or plots_dir(trainer)
        self.written = plot_run(metrics, out)
        log.info("TrainingCurves: %d plots in %s", len(self.written), out)


def _gather(trainer: pl.Trainer, obj: Any) -> list[Any]:
    if trainer.world_size == 1 or not torch.distributed.is_initialized():
        return [obj]
    out: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


class LatentMap(Callback):
    """Every ``every_n_epochs`` epochs, a 2-D map of the validation embeddings by label.

    The embeddings (``input``) and labels (``target``) of the validation steps are read from
    the step outputs, else from the batch, gathered from every rank (up to ``max_samples``
    per rank) and drawn by :func:`spt.plots.draw_latent_map` (PCA; UMAP beside it when
    umap-learn is installed) to ``RUN/plots/latent_epoch{N}.png``, N the number of epochs
    done. With a ``WandbLogger`` the image is logged under ``latent_map``. Without matplotlib
    it logs one line and draws nothing.

    Args:
        every_n_epochs: Draw after every this many training epochs.
        input: Key of the embeddings ``(B, D)``.
        target: Key of the labels ``(B,)``; ``None`` draws one colour.
        max_samples: At most this many embeddings per rank and map.
        dirpath: Folder of the PNGs (default: :func:`plots_dir`).
        use_umap: Add a UMAP panel when umap-learn is installed.

    Raises:
        ValueError: If ``every_n_epochs`` or ``max_samples`` is not positive; in validation,
            if a key is missing (the message lists the keys there are) or the keys disagree
            on the number of rows.

    Examples:
        >>> trainer = pl.Trainer(callbacks=[LatentMap(every_n_epochs=5)])  # doctest: +SKIP
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        input: str = "embedding",
        target: str | None = "label",
        max_samples: int = 5000,
        dirpath: str | Path | None = None,
        use_umap: bool = True,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"LatentMap: every_n_epochs must be >= 1, got {every_n_epochs}")
        if max_samples < 1:
            raise ValueError(f"LatentMap: max_samples must be >= 1, got {max_samples}")
        self.every_n_epochs = every_n_epochs
        self.input = input
        self.target = target
        self.max_samples = max_samples
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.use_umap = use_umap
        self.written: list[Path] = []
        self.num_points: list[int] = []  # embeddings on each map written
        self._disabled = False
        self._active = False
        self._x: list[np.ndarray] = []
        self._y: list[np.ndarray] = []

    def __repr__(self) -> str:
        return (
            f"LatentMap(every_n_epochs={self.every_n_epochs}, input={self.input!r}, "
            f"target={self.target!r})"
        )

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        missing = matplotlib_missing()
        if missing is not None and not self._disabled:
            if trainer.is_global_zero:
                log.info("LatentMap: no latent maps: %s", missing)
            self._disabled = True

    @override
    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        done = trainer.current_epoch + 1
        self._active = (
            not self._disabled and not trainer.sanity_checking and done % self.every_n_epochs == 0
        )
        self._x, self._y = [], []

    @override
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        kept = sum(len(x) for x in self._x)
        if not self._active or kept >= self.max_samples:
            return
        keys = [self.input] if self.target is None else [self.input, self.target]
        values: list[np.ndarray] = []
        for key in keys:
            value = read_step_value(outputs, batch, key)
            if value is None:
                raise KeyError(
                    f"LatentMap: {key!r} is not in the validation outputs (keys: "
                    f"{step_keys(outputs)}) nor in the batch (keys: {step_keys(batch)}); set "
                    "input= / target= to one of these"
                )
            values.append(value)
        x = values[0].reshape(len(values[0]), -1)
        room = self.max_samples - kept
        self._x.append(x[:room].astype(np.float32))
        if self.target is not None:
            y = values[1].reshape(-1)
            if len(y) != len(x):
                raise ValueError(
                    f"LatentMap: input {self.input!r} has {len(x)} rows but target "
                    f"{self.target!r} has {len(y)}; both must describe the same samples"
                )
            self._y.append(y[:room])

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._active:
            return
        mine = (
            np.concatenate(self._x) if self._x else np.zeros((0, 1), np.float32),
            np.concatenate(self._y) if self._y else None,
        )
        parts = _gather(trainer, mine)
        self._x, self._y = [], []
        if not trainer.is_global_zero:
            return
        x = np.concatenate([p[0] for p in parts if len(p[0])])
        y = (
            None
            if self.target is None
            else np.concatenate([p[1] for p in parts if p[1] is not None])
        )
        epoch = trainer.current_epoch + 1
        out = (self.dirpath or plots_dir(trainer)) / f"latent_epoch{epoch}.png"
        title = f"Validation embeddings after epoch {epoch}"
        self.written.append(draw_latent_map(x, y, out, title, use_umap=self.use_umap))
        self.num_points.append(len(x))
        self._log_wandb(trainer, out)

    def _log_wandb(self, trainer: pl.Trainer, path: Path) -> None:
        from lightning.pytorch.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="latent_map", images=[str(path)], step=trainer.global_step)
