"""Which parameter went to which optimizer, with which lr and weight decay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spt_optim.entries import OptimizerEntry

__all__ = ["REPORT_COLUMNS", "RoutingReport", "format_table", "routing_report"]

REPORT_COLUMNS = [
    "route",
    "group",
    "optimizer",
    "lr",
    "weight_decay",
    "tensors",
    "parameters",
    "scheduler",
    "interval",
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _is_numeric(values: list[Any]) -> bool:
    return bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    )


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """An aligned text table: a header, a rule, one line per row.

    Numeric columns (and their headers) are right-aligned (ints with thousands separators,
    floats with 4 significant digits), other cells left-aligned;
    None prints as ``-`` and a missing key as nothing.

    Args:
        rows: One mapping per row.
        columns: Keys to show, in order; also the header.

    Returns:
        The table, lines joined by newlines, no trailing spaces.

    Examples:
        >>> print(format_table([{"name": "adam", "lr": 0.001, "n": 1200}], ["name", "lr", "n"]))
        name     lr      n
        ----  -----  -----
        adam  0.001  1,200
    """
    cells = [[_cell(row[c]) if c in row else "" for c in columns] for row in rows]
    numeric = [_is_numeric([row.get(c) for row in rows if row.get(c) is not None]) for c in columns]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]

    def render(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = [render(list(columns)), render(["-" * w for w in widths])]
    lines += [render(line) for line in cells]
    return "\n".join(lines)


@dataclass
class RoutingReport:
    """The routing of parameters to optimizers, as data and as a table.

    Attributes:
        rows: One dict per optimizer parameter group, with the keys of ``REPORT_COLUMNS``
            (and ``"parameter_names"`` when asked for), ready for a logger. ``"lr"`` is the
            group's configured lr (``initial_lr`` once a scheduler is attached).
        show_parameters: Whether ``str()`` lists every parameter name under the table.

    Examples:
        >>> report = RoutingReport([{"route": "head", "group": 0, "lr": 0.1}])
        >>> print(str(report).splitlines()[2].split())
        ['head', '0', '0.1']
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    show_parameters: bool = False

    def __str__(self) -> str:
        text = format_table(self.rows, REPORT_COLUMNS)
        if self.show_parameters:
            for row in self.rows:
                text += f"\n\n{row['route']} (group {row['group']}):"
                for name in row.get("parameter_names", []):
                    text += f"\n  {name}"
        return text


def routing_report(entries: Sequence[OptimizerEntry], *, parameters: bool = False) -> RoutingReport:
    """Summarise where parameters went.

    Args:
        entries: From :func:`spt_optim.build_optimizers`.
        parameters: Also list every parameter name (in each row's ``"parameter_names"``
            and in the printed report).

    Returns:
        The report; ``print(report)`` shows the table.

    Examples:
        >>> from torch import nn
        >>> from spt_optim import build_optimizers
        >>> entries = build_optimizers(nn.Linear(3, 2), {"optimizer": "SGD", "scheduler": None})
        >>> print(routing_report(entries))
        route    group  optimizer     lr  weight_decay  tensors  parameters  scheduler  interval
        -------  -----  ---------  -----  ------------  -------  ----------  ---------  --------
        default      0  SGD        0.001             0        2           8  -          -
    """
    rows: list[dict[str, Any]] = []
    for entry in entries:
        names = {id(p): n for n, p in zip(entry.parameter_names, entry.parameters, strict=False)}
        for index, group in enumerate(entry.optimizer.param_groups):
            params = group["params"]
            row: dict[str, Any] = {
                "route": entry.name,
                "group": index,
                "optimizer": type(entry.optimizer).__name__,
                # the configured lr: a scheduler may already have moved "lr" (warmup from 0)
                "lr": group.get("initial_lr", group.get("lr")),
                "weight_decay": group.get("weight_decay"),
                "tensors": len(params),
                "parameters": sum(p.numel() for p in params),
                "scheduler": None if entry.scheduler is None else type(entry.scheduler).__name__,
                "interval": None if entry.scheduler is None else entry.interval,
            }
            if parameters:
                row["parameter_names"] = [names.get(id(p), "?") for p in params]
            rows.append(row)
    return RoutingReport(rows, show_parameters=parameters)
