"""The ``spt`` command, instrumented for ``faults.py``: it reports its step and slows its writes.

    python benchmarks/_faults_child.py --progress FILE [--write-delay S] [--step-delay S] \
        -- CONFIG.yaml [OVERRIDE ...]

Runs ``spt.cli.main`` unchanged except for two observations the fault harness needs, neither
of which touches the numbers of the run:

- after each training batch the global step is written to ``--progress`` (replaced
  atomically), and the batch is followed by ``--step-delay`` seconds of sleep (0 by default;
  the tiny configuration of the test uses it so that a signal lands inside the run);
- when Lightning has written a checkpoint to its temporary file (``.NAME.tmp``, before the
  Manager renames it into place) the file ``--progress`` + ``.writing`` holds the step and
  the writer sleeps ``--write-delay`` seconds: a signal sent then arrives during the write.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import lightning as pl


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    os.replace(tmp, path)


class StepReport(pl.Callback):
    """Writes the global step after every training batch (then sleeps ``delay`` seconds)."""

    def __init__(self, path: Path, delay: float) -> None:
        self.path = path
        self.delay = delay

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        _write_atomically(self.path, str(trainer.global_step))
        if self.delay:
            time.sleep(self.delay)


def instrument(progress: Path, write_delay: float, step_delay: float) -> None:
    """Patch ``Trainer.fit`` (adds :class:`StepReport`) and ``Trainer.save_checkpoint``."""
    fit = pl.Trainer.fit
    save_checkpoint = pl.Trainer.save_checkpoint
    writing = progress.with_name(progress.name + ".writing")

    def reporting_fit(self: pl.Trainer, *args: Any, **kwargs: Any) -> Any:
        self.callbacks.append(StepReport(progress, step_delay))  # type: ignore[attr-defined]
        return fit(self, *args, **kwargs)

    def slow_save_checkpoint(self: pl.Trainer, filepath: Any, *args: Any, **kwargs: Any) -> None:
        save_checkpoint(self, filepath, *args, **kwargs)
        if Path(filepath).name.endswith(".tmp") and self.is_global_zero:
            _write_atomically(writing, str(self.global_step))
            time.sleep(write_delay)
            writing.unlink(missing_ok=True)

    pl.Trainer.fit = reporting_fit  # type: ignore[method-assign]
    pl.Trainer.save_checkpoint = slow_save_checkpoint  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--progress", type=Path, required=True)
    parser.add_argument("--write-delay", type=float, default=0.0)
    parser.add_argument("--step-delay", type=float, default=0.0)
    parser.add_argument("spt_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    spt_args = args.spt_args[1:] if args.spt_args[:1] == ["--"] else args.spt_args
    instrument(args.progress, args.write_delay, args.step_delay)
    from spt.cli import main as spt_main

    return spt_main(spt_args)


if __name__ == "__main__":
    sys.exit(main())
