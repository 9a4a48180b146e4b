"""The table of optimizers printed at the start of training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spt_module._clipping import Clipping
from spt_optim import OptimizerEntry, format_table

__all__ = ["OPTIMIZER_COLUMNS", "optimizer_rows", "optimizer_table"]

OPTIMIZER_COLUMNS = [
    "index",
    "name",
    "class",
    "parameters",
    "lr",
    "scheduler",
    "interval",
    "frequency",
    "clip_val",
    "clip_algorithm",
]


def optimizer_rows(
    entries: Sequence[OptimizerEntry], clipping: Sequence[Clipping]
) -> list[dict[str, Any]]:
    """One row per optimizer entry, with the clipping that the Module will apply.

    Args:
        entries: The optimizer entries.
        clipping: The clipping resolved for each entry.
    """
    rows = []
    for index, (entry, clip) in enumerate(zip(entries, clipping, strict=True)):
        names = list(entry.parameter_names)
        numel = sum(p.numel() for group in entry.optimizer.param_groups for p in group["params"])
        scheduler = entry.scheduler
        rows.append(
            {
                "index": index,
                "name": entry.name,
                "class": type(entry.optimizer).__name__,
                "parameters": f"{len(names)} tensors, {numel:,} values",
                "lr": entry.optimizer.param_groups[0]["lr"],
                "scheduler": type(scheduler).__name__ if scheduler is not None else "-",
                "interval": entry.interval if scheduler is not None else "-",
                "frequency": entry.frequency,
                "clip_val": "-" if clip.value is None else clip.value,
                "clip_algorithm": "-" if clip.value is None else clip.algorithm,
            }
        )
    return rows


def optimizer_table(entries: Sequence[OptimizerEntry], clipping: Sequence[Clipping]) -> str:
    """The optimizers as an aligned text table (``spt_optim.format_table``)."""
    return format_table(optimizer_rows(entries, clipping), OPTIMIZER_COLUMNS)
