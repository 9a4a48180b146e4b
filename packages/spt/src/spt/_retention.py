"""Which checkpoint files a run keeps besides ``last.ckpt``: the newest periodic ones, the best k.

The bookkeeping of :class:`spt.checkpoint.RunCheckpoint`. Only files it wrote itself are
ever deleted (their names are in the checkpoint's state), never other files of the folder.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BestCheckpoints", "StepCheckpoints", "link_or_copy"]


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` becomes a copy of ``source`` (a hard link where the file system has them).

    ``source`` is replaced by rename when it is written again, so the link keeps this version.
    """
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


@dataclass
class StepCheckpoints:
    """The periodic checkpoints ``step-XXXXXXXX.ckpt`` kept: the newest ``keep`` (-1: all).

    Attributes:
        keep: How many to keep; 0 writes none.
        names: The files written so far, oldest first.

    Examples:
        >>> kept = StepCheckpoints(keep=2)
        >>> [kept.add(step) for step in (100, 200, 300)][-1]
        'step-00000300.ckpt'
        >>> kept.expired(), kept.names
        (['step-00000100.ckpt'], ['step-00000200.ckpt', 'step-00000300.ckpt'])
    """

    keep: int = 0
    names: list[str] = field(default_factory=list)

    @staticmethod
    def name(step: int) -> str:
        """The file name of the checkpoint of ``step``."""
        return f"step-{step:08d}.ckpt"

    def add(self, step: int) -> str | None:
        """Register the checkpoint of ``step`` (before it is written); its name, or None."""
        if self.keep == 0:
            return None
        name = self.name(step)
        if name in self.names:
            self.names.remove(name)
        self.names.append(name)
        return name

    def expired(self) -> list[str]:
        """Take out and return the names beyond the newest ``keep``."""
        if self.keep < 0 or len(self.names) <= self.keep:
            return []
        cut = len(self.names) - self.keep
        expired, self.names = self.names[:cut], self.names[cut:]
        return expired


@dataclass
class BestCheckpoints:
    """The ``best_k`` checkpoints by a monitored metric, as ``best-step-XXXXXXXX.ckpt``.

    Attributes:
        monitor: The metric (a key of ``trainer.callback_metrics``).
        mode: ``"min"`` or ``"max"``.
        best_k: How many to keep.
        entries: ``[value, step, name]`` of the kept ones, best first.
    """

    monitor: str
    mode: str = "min"
    best_k: int = 1
    entries: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(
                f"RunCheckpoint: mode={self.mode!r} must be 'min' (lower {self.monitor} is "
                "better) or 'max'"
            )
        if not isinstance(self.best_k, int) or self.best_k < 1:
            raise ValueError(f"RunCheckpoint: best_k={self.best_k!r} must be an int >= 1")

    def _key(self, value: float) -> float:
        return value if self.mode == "min" else -value

    def offer(self, value: float, step: int) -> tuple[str | None, list[str]]:
        """Consider the checkpoint of ``step`` whose metric is ``value``.

        Returns:
            The name to write (None when it is not among the best k, or not finite) and the
            names that drop out of the best k.
        """
        if not math.isfinite(value):
            return None, []
        name = f"best-step-{step:08d}.ckpt"
        entries = [e for e in self.entries if e[2] != name]
        if len(entries) >= self.best_k and self._key(value) >= self._key(entries[-1][0]):
            return None, []
        entries.append([value, step, name])
        entries.sort(key=lambda e: (self._key(e[0]), e[1]))
        self.entries, dropped = entries[: self.best_k], entries[self.best_k :]
        return name, [e[2] for e in dropped]

    def summary(self, folder: Path) -> list[dict[str, Any]]:
        """The kept checkpoints as ``{"path", "step", monitor}`` dicts, best first."""
        return [
            {"path": str(folder / name), "step": step, self.monitor: value}
            for value, step, name in self.entries
        ]
