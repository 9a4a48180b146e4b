"""Where a result goes: a table, ``<run_dir>/eval/<protocol>.json`` and the loggers."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["report"]

log = logging.getLogger("spt")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def report(
    protocol: str,
    result: dict[str, Any],
    run_dir: str | Path | None,
    wandb: Mapping[str, Any] | None = None,
    quiet: bool = False,
    into: list[Any] | None = None,
) -> dict[str, Any]:
    """Print the metrics table, write the JSON file and log the metrics (rank zero only).

    The CSV goes to ``<run_dir>/eval/<protocol>/metrics.csv`` (Lightning's CSV writer would
    delete the training log if it wrote into ``<run_dir>/logs``); with ``wandb`` the metrics
    join the run's wandb run (its id is in ``<run_dir>/wandb_id.txt``).

    Args:
        protocol: ``"knn"``, ``"linear"`` or ``"finetune"``.
        result: ``{"metrics": {name: value}, ...settings}``.
        run_dir: The run directory; ``None`` writes nothing.
        wandb: ``WandbLogger`` arguments, or ``None``.
        quiet: Do not print the table.
        into: Log to these loggers instead of new ones (those the fine-tuning trained with).

    Returns:
        ``result`` with ``"json"``: the path of the JSON file (when written).
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from spt.manager import summary_table

    if getattr(rank_zero_only, "rank", 0) != 0:
        return result
    if not quiet:
        print(summary_table(result["metrics"]))
    if run_dir is None:
        return result
    run_dir = Path(run_dir)
    path = run_dir / "eval" / f"{protocol}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable({"protocol": protocol, **result}), indent=2) + "\n")
    from lightning.pytorch.loggers import WandbLogger

    for logger in into if into is not None else loggers(run_dir, protocol, wandb):
        logger.log_metrics(result["metrics"], step=0)
        logger.finalize("success")
        if isinstance(logger, WandbLogger):  # the evaluation ends here: close its wandb run
            logger.experiment.finish()
    log.info("spt eval %s: results written to %s", protocol, path)
    return {**result, "json": str(path)}


def loggers(run_dir: Path, protocol: str, wandb: Mapping[str, Any] | None) -> list[Any]:
    """A CSV logger in ``<run_dir>/eval/<protocol>`` and, when asked, the run's wandb logger."""
    from lightning.pytorch.loggers import CSVLogger

    from spt.manager import wandb_logger

    out: list[Any] = [CSVLogger(save_dir=str(run_dir), name="eval", version=protocol)]
    if wandb is not None:
        out.append(wandb_logger(run_dir, wandb))
    return out
