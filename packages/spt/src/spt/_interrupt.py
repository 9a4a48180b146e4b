"""How a run stopped by a signal ends: a checkpoint, a message, and the signal's exit status.

A run that receives SIGTERM or SIGUSR1 writes a checkpoint at the end of the current batch
and stops before the next one (:class:`SignalStop`, raised inside ``fit``). Outside a SLURM
requeue the Manager then raises :class:`RunInterrupted`, a ``SystemExit`` whose status is the
shell's convention for a process ended by that signal, 128 + its number (143 for SIGTERM,
138 for SIGUSR1 on Linux): a script or scheduler sees that the run did not finish.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Interruption", "RunInterrupted", "SignalStop", "signal_name"]


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15, and so on (``"signal 99"`` for a number with no name)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@dataclass(frozen=True)
class Interruption:
    """Where a run stopped on a signal.

    Attributes:
        signum: The signal's number.
        step: The global step of the checkpoint.
        checkpoint: The checkpoint to resume from.
        requeued: Whether the SLURM job was requeued (it then resumes by itself).

    Examples:
        >>> stop = Interruption(signal.SIGTERM, step=57, checkpoint=Path("run/last.ckpt"))
        >>> stop.signal, stop.exit_code
        ('SIGTERM', 143)
        >>> print(stop.describe())  # doctest: +ELLIPSIS
        stopped by SIGTERM at step 57; checkpoint run/last.ckpt (run the same command again...)
    """

    signum: int
    step: int
    checkpoint: Path
    requeued: bool = False

    @property
    def signal(self) -> str:
        """The signal's name."""
        return signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, the status of a process a signal ended."""
        return 128 + self.signum

    def describe(self) -> str:
        """One line for the log: the signal, the step, the checkpoint and what to do next."""
        after = (
            "the requeued job resumes from it"
            if self.requeued
            else "run the same command again to resume"
        )
        return (
            f"stopped by {self.signal} at step {self.step}; checkpoint {self.checkpoint} ({after})"
        )

    def as_dict(self) -> dict[str, object]:
        """The fields ``results.json`` records."""
        return {
            "signal": self.signal,
            "signum": self.signum,
            "step": self.step,
            "checkpoint": str(self.checkpoint),
            "requeued": self.requeued,
            "exit_code": self.exit_code,
        }


class SignalStop(BaseException):
    """Raised inside ``fit`` right after the checkpoint of a signal: nothing runs after it.

    A ``BaseException``, like ``KeyboardInterrupt``: an ``except Exception`` in user code does
    not swallow it.

    Stopping with ``trainer.should_stop`` would run the epoch-end hooks on a partial epoch and
    log rows the uninterrupted run never logs.
    """

    def __init__(self, interruption: Interruption) -> None:
        super().__init__(interruption.describe())
        self.interruption = interruption


class RunInterrupted(SystemExit):
    """A run stopped by a signal: its exit status is 128 + the signal's number.

    Uncaught, it ends the process with that status and no traceback, as the signal itself
    would have, after the checkpoint was written. Catch it to go on in the same process.

    Attributes:
        interruption: The signal, the step and the checkpoint.
    """

    def __init__(self, interruption: Interruption) -> None:
        super().__init__(interruption.exit_code)
        self.interruption = interruption

    def __str__(self) -> str:
        return f"spt.Manager: {self.interruption.describe()}; exit status {self.code}"
