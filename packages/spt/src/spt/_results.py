"""A run's results on disk: ``results.json`` and ``results.txt`` in the run directory.

``results.json`` is written when a fit starts (status ``running``) and again when it ends:
``complete`` (with the final metrics, and ``results.txt``, their table), ``interrupted`` (the
signal, the step and the checkpoint to resume from) or ``failed`` (the error). A run killed
outright (SIGKILL) keeps ``running``. Each invocation of the same run directory appends one
entry to ``invocations``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import lightning as pl
import torch

__all__ = [
    "RESULTS_JSON",
    "RESULTS_TXT",
    "RunRecord",
    "final_metrics",
    "finished_run",
    "loop_limits",
    "report_finished",
    "summary_table",
    "versions",
]

RESULTS_JSON = "results.json"
RESULTS_TXT = "results.txt"
_PACKAGES = ("spt", "spt-optim", "spt-losses", "spt-data", "spt-module", "spt-callbacks")
_LIBRARIES = ("torch", "lightning", "torchmetrics", "hydra-core")


def summary_table(metrics: Mapping[str, float]) -> str:
    """The final metrics as an aligned two-column table."""
    from spt_optim import format_table

    rows = [{"metric": k, "value": v if math.isfinite(v) else str(v)} for k, v in metrics.items()]
    return format_table(rows, ["metric", "value"])


def final_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The Trainer's last value of every scalar metric (``trainer.callback_metrics``), sorted."""
    metrics: dict[str, float] = {}
    for name, value in sorted(trainer.callback_metrics.items()):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            metrics[name] = float(value.item())
        elif isinstance(value, (int, float)):
            metrics[name] = float(value)
    return metrics


def versions() -> dict[str, str]:
    """Versions of the spt packages, torch, Lightning, torchmetrics, Hydra and Python."""
    found: dict[str, str] = {}
    for name in (*_PACKAGES, *_LIBRARIES):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["python"] = platform.python_version()
    return found


def loop_limits(max_epochs: int | None, max_steps: int | None) -> dict[str, int]:
    """``max_epochs`` and ``max_steps`` as Lightning resolves them (1000 epochs if none is set).

    Examples:
        >>> loop_limits(None, None)
        {'max_epochs': 1000, 'max_steps': -1}
        >>> loop_limits(None, 500)
        {'max_epochs': -1, 'max_steps': 500}
    """
    steps = -1 if max_steps is None else int(max_steps)
    epochs = (1000 if steps == -1 else -1) if max_epochs is None else int(max_epochs)
    return {"max_epochs": epochs, "max_steps": steps}


def _read(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def finished_run(run_dir: str | Path, limits: Mapping[str, int]) -> dict[str, Any] | None:
    """The ``results.json`` of ``run_dir`` when it records a complete run of the same length.

    A run asked to go on for longer (a larger ``max_epochs`` or ``max_steps``) is not finished:
    it resumes from its checkpoint.

    Args:
        run_dir: The run directory.
        limits: The asked run's :func:`loop_limits`.

    Returns:
        The stored record, or ``None``.
    """
    record = _read(Path(run_dir) / RESULTS_JSON)
    if record is None or record.get("status") != "complete":
        return None
    if record.get("trainer") != dict(limits):
        return None
    return record


def report_finished(run_dir: str | Path, record: Mapping[str, Any]) -> dict[str, float]:
    """Say that ``run_dir`` holds a finished run and print its stored table; nothing is written.

    Returns:
        The run's final metrics, as ``results.json`` holds them.
    """
    run_dir = Path(run_dir)
    print(
        f"spt: {run_dir} holds a finished run (results.json: complete at step "
        f"{record.get('global_step')}); nothing to do. Raise trainer.max_epochs or "
        "trainer.max_steps to train it further, or give another run directory to train again."
    )
    metrics = {str(k): float(v) for k, v in record.get("metrics", {}).items()}
    table = run_dir / RESULTS_TXT
    if table.is_file():
        print(table.read_text(), end="")
    elif metrics:
        print(summary_table(metrics))
    return metrics


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _plain(value: Any) -> Any:
    """``value`` as JSON can hold it (paths and other objects as strings)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


class RunRecord:
    """``results.json`` of one run directory, updated as an invocation starts and ends.

    Args:
        run_dir: The run directory.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / RESULTS_JSON
        self.data: dict[str, Any] = {}
        self._started = 0.0

    def start(
        self,
        *,
        config: Any,
        manager: Mapping[str, Any],
        seed: int | None,
        limits: Mapping[str, int],
        resumed_from: Path | None,
    ) -> None:
        """Record an invocation that starts (status ``running``)."""
        previous = _read(self.path) or {}
        invocations = list(previous.get("invocations", []))
        invocations.append(
            {
                "started": _now(),
                "resumed_from": str(resumed_from) if resumed_from is not None else None,
                "status": "running",
            }
        )
        self._started = time.monotonic()
        self.data = {
            "status": "running",
            "metrics": {},
            "seed": seed,
            "trainer": dict(limits),
            "manager": _plain(manager),
            "config": _plain(config),
            "versions": versions(),
            "wall_time_s": float(previous.get("wall_time_s", 0.0)),
            "invocations": invocations,
        }
        self._write()

    def finish(self, status: str, **fields: Any) -> None:
        """Record the end of the invocation: ``status`` and ``fields`` (metrics, checkpoint...)."""
        elapsed = time.monotonic() - self._started
        self.data["status"] = status
        self.data["wall_time_s"] = round(float(self.data.get("wall_time_s", 0.0)) + elapsed, 3)
        self.data.update(_plain(fields))
        if self.data["invocations"]:
            entry = self.data["invocations"][-1]
            entry.update(status=status, ended=_now(), wall_time_s=round(elapsed, 3))
            if "interruption" in fields:
                entry["interruption"] = _plain(fields["interruption"])
        self._write()
        if status == "complete":
            text = summary_table(self.data.get("metrics", {})) if self.data.get("metrics") else ""
            _atomic_write(self.run_dir / RESULTS_TXT, text + "\n")

    def _write(self) -> None:
        _atomic_write(self.path, json.dumps(self.data, indent=2, sort_keys=False) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
