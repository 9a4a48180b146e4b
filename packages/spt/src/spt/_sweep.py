"""One table over the runs of a ``-m`` sweep, written into the sweep directory at its end.

Each job of the sweep appends one line to ``<sweep dir>/runs.jsonl`` when it ends (its
overrides, its run directory, the status and final metrics of its ``results.json``); a
requeued or repeated job appends again and its last line counts. When the launcher returns,
:class:`SweepSummary` (a Hydra callback the ``spt`` command registers for ``-m``) writes
``summary.json`` and ``summary.txt``: one row per run, the overrides as columns, then the
status and the final metrics, and prints the table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from spt._results import RESULTS_JSON

__all__ = ["SweepSummary", "record_job", "summary_rows", "sweep_table"]

INDEX = "runs.jsonl"


def _override_pair(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def record_job(
    sweep_dir: str | Path, job: int, overrides: Sequence[str], run_dir: str | Path
) -> None:
    """Append the result of one job of the sweep to ``<sweep_dir>/runs.jsonl``.

    Args:
        sweep_dir: The sweep directory.
        job: The job's number in the sweep.
        overrides: The job's command-line overrides (``key=value``).
        run_dir: The job's run directory, whose ``results.json`` holds status and metrics.
    """
    record: dict[str, Any] = {}
    try:
        loaded = json.loads((Path(run_dir) / RESULTS_JSON).read_text())
        record = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass
    line = {
        "job": job,
        "overrides": list(overrides),
        "run_dir": str(run_dir),
        "status": record.get("status", "failed"),
        "metrics": record.get("metrics", {}),
    }
    path = Path(sweep_dir) / INDEX
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:  # one short write per job: appends of jobs do not interleave
        file.write(json.dumps(line) + "\n")


def summary_rows(sweep_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of the sweep's table (one per job, its last record) and their columns."""
    path = Path(sweep_dir) / INDEX
    if not path.is_file():
        return [], []
    last: dict[int, dict[str, Any]] = {}
    for text in path.read_text().splitlines():
        if text.strip():
            entry = json.loads(text)
            last[int(entry["job"])] = entry
    keys: list[str] = []
    metrics: set[str] = set()
    rows: list[dict[str, Any]] = []
    for job in sorted(last):
        entry = last[job]
        row: dict[str, Any] = {"job": job}
        for key, value in map(_override_pair, entry["overrides"]):
            if key not in keys:
                keys.append(key)
            row[key] = value
        row["status"] = entry["status"]
        row.update(entry["metrics"])
        metrics.update(entry["metrics"])
        row["run_dir"] = entry["run_dir"]
        rows.append(row)
    return rows, ["job", *keys, "status", *sorted(metrics), "run_dir"]


def sweep_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """The rows as an aligned text table."""
    from spt_optim import format_table

    return format_table(rows, columns)


class SweepSummary(Callback):
    """Hydra callback: at the end of a multirun, the table of its runs in the sweep directory."""

    def __init__(self) -> None:
        self.sweep_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Remember the sweep directory (its ``${now:...}`` resolved once, at the start)."""
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Write ``summary.json`` and ``summary.txt`` into the sweep directory; print the table."""
        sweep_dir = self.sweep_dir or Path(str(config.hydra.sweep.dir))
        rows, columns = summary_rows(sweep_dir)
        if not rows:
            return
        table = sweep_table(rows, columns)
        (sweep_dir / "summary.json").write_text(
            json.dumps({"columns": columns, "rows": rows}, indent=2) + "\n"
        )
        (sweep_dir / "summary.txt").write_text(table + "\n")
        print(f"spt: sweep of {len(rows)} runs in {sweep_dir} (summary.txt, summary.json):")
        print(table)
