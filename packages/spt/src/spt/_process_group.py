"""When one process of a multi-process run dies: a bounded wait and a message that says so.

Under DDP every process waits for the others in each collective (the gradient all-reduce,
a barrier, a gather of queue items). When one of them dies, the others are left inside a
collective: gloo notices a closed connection at once, but a process that hangs, or NCCL,
leaves them waiting for the process group's timeout, which Lightning sets to 30 minutes.

The Manager sets that timeout to its ``collective_timeout`` (default
:data:`DEFAULT_COLLECTIVE_TIMEOUT`, 10 minutes, PyTorch's own default for NCCL) unless the
strategy was given one (``DDPStrategy(timeout=...)``), and turns the error a surviving
process gets into one line that says what happened and where the run can resume.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import lightning as pl
import torch.distributed as dist

from spt._lightning import set_process_group_timeout

log = logging.getLogger("spt")

__all__ = [
    "DEFAULT_COLLECTIVE_TIMEOUT",
    "apply_collective_timeout",
    "check_collective_timeout",
    "is_collective_failure",
    "report_collective_failure",
]

DEFAULT_COLLECTIVE_TIMEOUT = 600.0
"""Seconds a process waits in a collective for the others before it fails (10 minutes)."""

# What the messages of a failed collective hold: gloo's transport errors (a peer's closed
# connection, a timed out receive) name gloo; NCCL's name NCCL.
_MARKERS = ("gloo", "nccl", "connection reset by peer", "connection closed by peer", "timed out")


def check_collective_timeout(seconds: float | None) -> float | None:
    """``seconds`` as a float, or ``None``; refuses anything else.

    Raises:
        ValueError: If ``seconds`` is not a positive number or ``None``.
    """
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(
            f"Manager: collective_timeout={seconds!r} must be a positive number of seconds "
            "(or None to keep the strategy's timeout), e.g. collective_timeout=600"
        )
    return float(seconds)


def apply_collective_timeout(trainer: pl.Trainer, seconds: float | None) -> None:
    """Give the Trainer's process group a timeout of ``seconds`` (see the module docstring).

    Args:
        trainer: A ``lightning.Trainer`` before ``fit``, ``validate``, ``test`` or ``predict``.
        seconds: The timeout, or ``None`` to leave Lightning's (or the strategy's) own.

    Raises:
        ValueError: If ``seconds`` is not a positive number.
    """
    seconds = check_collective_timeout(seconds)
    if seconds is None:
        return
    if set_process_group_timeout(trainer, timedelta(seconds=float(seconds))):
        log.info("spt.Manager: collectives time out after %g s (collective_timeout)", seconds)


def is_collective_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is what a process gets when a collective with a dead or hung peer fails.

    Args:
        exc: The exception that ended ``fit`` in a multi-process run.
    """
    if isinstance(exc, dist.DistError):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in _MARKERS)


def report_collective_failure(
    exc: BaseException, trainer: pl.Trainer, checkpoint: Path, timeout: float | None
) -> bool:
    """Log, on a process that survived, that another one died or stopped answering.

    Args:
        exc: The exception that ended ``fit``.
        trainer: The Trainer of the run.
        checkpoint: The run's checkpoint (where a relaunch resumes).
        timeout: The Manager's ``collective_timeout`` (for the message).

    Returns:
        Whether ``exc`` was such a failure (and the message was logged).
    """
    if trainer.world_size == 1 or not is_collective_failure(exc):
        return False
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = (
        f"The last checkpoint is {checkpoint}; start all {trainer.world_size} processes again "
        "to resume from it"
        if checkpoint.is_file()
        else "No checkpoint was written yet"
    )
    wait = f"{timeout:g} s" if timeout is not None else "the strategy's timeout"
    log.error(
        "spt.Manager: rank %d of %d lost contact with another process in a collective at step "
        "%d: another process died, was killed, or did not answer within %s "
        "(Manager(collective_timeout=...)). %s. The error: %s",
        trainer.global_rank,
        trainer.world_size,
        trainer.global_step,
        wait,
        where,
        first_line,
    )
    return True
