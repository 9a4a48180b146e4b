"""The Manager's loggers: a CSV log that survives resume; wandb, with advice when it cannot start.

Lightning's ``CSVLogger`` deletes the ``metrics.csv`` it finds in its folder ("Previous log
files in this directory will be deleted"), so a resumed run lost the rows of its first part.
:class:`RunCSVLogger` keeps the file and appends to it (rewriting the header when a new
column appears, as Lightning's writer does); :class:`spt._run_log.RunLog` cuts it back to
the checkpoint's step when a run resumes, so that the file equals the uninterrupted run's.
"""

from __future__ import annotations

import csv
import logging
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from typing_extensions import override

log = logging.getLogger("spt")

__all__ = ["RunCSVLogger", "start_wandb", "wandb_logger"]

WANDB_OFFLINE_ADVICE = (
    "to log without an account or a network, run offline: set WANDB_MODE=offline in the "
    "environment, or give the mode (manager.wandb.mode=offline in a config, "
    "Manager(wandb={'mode': 'offline', ...}) in Python); `wandb sync RUN/wandb/offline-run-*` "
    "uploads the run later"
)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued, not deleted."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir=log_dir)
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                header = next(csv.reader(file), [])
            self.metrics_keys = sorted(header)

    @override
    def _check_log_dir_exists(self) -> None:
        """Keep what the folder holds (Lightning's writer deletes the old ``metrics.csv``)."""

    def rows(self) -> list[dict[str, str]]:
        """The rows of ``metrics.csv`` (after writing the pending ones)."""
        self.save()
        if not self._fs.isfile(self.metrics_file_path):
            return []
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            return list(csv.DictReader(file))

    def rewrite(self, rows: list[dict[str, str]]) -> None:
        """Replace the file by ``rows`` (atomically), the header being their non-empty columns."""
        keys = sorted({k for row in rows for k, v in row.items() if v not in ("", None)})
        tmp = f"{self.metrics_file_path}.tmp"
        with self._fs.open(tmp, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=keys, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        self._fs.mv(tmp, self.metrics_file_path)
        self.metrics_keys = keys


class RunCSVLogger(CSVLogger):
    """A ``CSVLogger`` whose ``metrics.csv`` is kept and continued by a later invocation.

    Args:
        save_dir: The run directory.
        name: The folder of the log in it (``logs``).
        version: A subfolder (``""``: none).
    """

    def __init__(self, save_dir: str | Path, name: str = "logs", version: str = "") -> None:
        super().__init__(save_dir=str(save_dir), name=name, version=version)

    @property
    @override
    @rank_zero_experiment
    def experiment(self) -> _AppendingWriter:
        if self._experiment is not None:
            return self._experiment  # type: ignore[return-value]
        self._fs.makedirs(self.root_dir, exist_ok=True)
        self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment

    @property
    def metrics_file(self) -> Path:
        """The ``metrics.csv`` this logger writes."""
        return Path(self.log_dir) / ExperimentWriter.NAME_METRICS_FILE

    @rank_zero_only
    def keep_rows_through(self, step: int) -> int:
        """Drop the rows logged after ``step`` (a resumed run logs them again).

        Args:
            step: The ``step`` of the last row to keep.

        Returns:
            How many rows were dropped.
        """
        writer = self.experiment
        rows = writer.rows()
        kept = [row for row in rows if row.get("step") and float(row["step"]) <= step]
        if len(kept) != len(rows):
            writer.rewrite(kept)
        return len(rows) - len(kept)

    @rank_zero_only
    def move_aside(self) -> Path | None:
        """Rename a ``metrics.csv`` left by an earlier start (a run that begins again from step 0).

        Nothing is deleted: the old file becomes ``metrics.<time>.csv`` beside the new one.

        Returns:
            The new name of the old file, or ``None`` when there was none.
        """
        writer = self.experiment
        writer.save()
        if not self.metrics_file.is_file():
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.metrics_file.with_name(f"metrics.{stamp}.csv")
        n = 1
        while target.exists():
            target = self.metrics_file.with_name(f"metrics.{stamp}-{n}.csv")
            n += 1
        os.replace(self.metrics_file, target)
        writer.metrics_keys = []
        return target


def wandb_logger(run_dir: Path, settings: Mapping[str, Any]) -> Any:
    """A ``WandbLogger`` that continues the wandb run of ``run_dir`` (its id in ``wandb_id.txt``).

    The wandb run starts here rather than inside ``fit``, so that a missing API key or network
    fails before training, with the advice to run offline.

    Args:
        run_dir: The run directory.
        settings: Keyword arguments of ``WandbLogger`` (project, entity, mode, ...).

    Raises:
        RuntimeError: If wandb cannot start (no API key, no network), saying how to run offline.
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
    logger = WandbLogger(**kwargs)
    start_wandb(logger)
    return logger


def start_wandb(logger: Any) -> None:
    """Start the wandb run of a ``WandbLogger`` now (Lightning starts it inside ``fit``).

    Raises:
        RuntimeError: If wandb cannot start (no API key, no network), saying how to run offline.
    """
    import wandb

    try:
        _ = logger.experiment
    except wandb.errors.Error as exc:
        raise RuntimeError(
            f"spt.Manager: wandb could not start ({type(exc).__name__}: {exc}); "
            f"{WANDB_OFFLINE_ADVICE}"
        ) from exc
