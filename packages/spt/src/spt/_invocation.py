"""Where one invocation of the ``spt`` command writes, decided before Hydra starts.

With ``manager.run_dir`` set (in the YAML file or as an override), the run directory is also
Hydra's output directory: each invocation's composed config, Hydra config and overrides go
to ``RUN/.hydra/<time>/`` and its log is appended to ``RUN/cli.log``, instead of a fresh
``outputs/DATE/TIME``. A run directory whose ``results.json`` records a finished run of the
same length is reported and left untouched: Hydra does not even start. A ``-m`` sweep gets
:class:`spt._sweep.SweepSummary`, which writes the table of its runs at the end.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Invocation", "plan_invocation", "record_sweep_job"]

_MULTIRUN = ("-m", "--multirun")
_INFO_FLAGS = ("--hydra-help", "--info", "-i", "--cfg", "-c", "--help", "-h")
_SWEEP_CALLBACK = "++hydra.callbacks.spt_sweep_summary._target_=spt._sweep.SweepSummary"


@dataclass
class Invocation:
    """What the ``spt`` command passes to Hydra, or the finished run it reports instead.

    Attributes:
        overrides: The command line for Hydra (the user's, plus the output settings).
        multirun: Whether this is a ``-m`` sweep.
        run_dir: ``manager.run_dir`` when the config sets it (single runs only).
        finished: The ``results.json`` of a finished run in ``run_dir`` (nothing to run).
    """

    overrides: list[str]
    multirun: bool = False
    run_dir: Path | None = None
    finished: dict[str, Any] | None = field(default=None)


def _quote(value: str) -> str:
    """A Hydra override value, quoted (paths may hold characters its grammar reads)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _invocation_subdir(run_dir: Path) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name, n = stamp, 1
    while (run_dir / ".hydra" / name).exists():
        name = f"{stamp}-{n}"
        n += 1
    return f".hydra/{name}"


def _composed(config: Path, overrides: Sequence[str]) -> Any:
    """``config`` composed with ``overrides``, or None when composing fails (Hydra reports it)."""
    from spt._hydra import compose_config

    try:
        return compose_config(config, overrides)
    except Exception:
        return None


def plan_invocation(config: Path, args: Sequence[str]) -> Invocation:
    """Decide where this invocation writes.

    Args:
        config: The YAML file (resolved).
        args: The arguments after it: overrides and Hydra flags.
    """
    from omegaconf import OmegaConf

    from spt._results import finished_run, loop_limits

    overrides = list(args)
    if any(a in _MULTIRUN for a in args):
        return Invocation([*overrides, _SWEEP_CALLBACK], multirun=True)
    if any(a in _INFO_FLAGS for a in args):
        return Invocation(overrides)
    plain = [a for a in args if "=" in a and not a.startswith("-")]
    cfg = _composed(config, plain)
    if cfg is None:
        return Invocation(overrides)
    value = OmegaConf.select(cfg, "manager.run_dir", throw_on_resolution_failure=False)
    if not isinstance(value, str) or not value:
        return Invocation(overrides)
    run_dir = Path(value)
    trainer = cfg.get("trainer") or {}
    limits = loop_limits(trainer.get("max_epochs"), trainer.get("max_steps", -1))
    finished = finished_run(run_dir, limits)
    if finished is not None:
        return Invocation(overrides, run_dir=run_dir, finished=finished)
    keys = {a.lstrip("+~").partition("=")[0] for a in plain}
    if "hydra.run.dir" not in keys:
        overrides.append(f"hydra.run.dir={_quote(str(run_dir))}")
    if "hydra.output_subdir" not in keys:
        overrides.append(f"hydra.output_subdir={_quote(_invocation_subdir(run_dir))}")
    return Invocation(overrides, run_dir=run_dir)


def record_sweep_job(run_dir: str | Path) -> None:
    """In a job of a ``-m`` sweep: add its result to the sweep's ``runs.jsonl``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from spt._sweep import record_job

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    record_job(hydra_cfg.sweep.dir, int(hydra_cfg.job.num), hydra_cfg.overrides.task, run_dir)
