"""The table of optimizers printed at the start of training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    entries: Sequence[Any], clip: Sequence[tuple[float | None, str | None]]
) -> list[dict[str, Any]]:
    """One row per optimizer entry, with the clipping that the Module will apply.

    Args:
        entries: ``spt_optim.OptimizerEntry`` objects.
        clip: ``(clip_val, clip_algorithm)`` resolved for each entry.
    """
    rows = []
    for index, (entry, (clip_val, clip_algorithm)) in enumerate(zip(entries, clip, strict=True)):
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
                "clip_val": "-" if clip_val is None else clip_val,
                "clip_algorithm": "-" if clip_val is None else (clip_algorithm or "norm"),
            }
        )
    return rows


def optimizer_table(entries: Sequence[Any], clip: Sequence[tuple[float | None, str | None]]) -> str:
    """The optimizers as an aligned text table (``spt_optim.format_table``)."""
    from spt_optim import format_table

    return str(format_table(optimizer_rows(entries, clip), OPTIMIZER_COLUMNS))
