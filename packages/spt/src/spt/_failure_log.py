"""A job's error in its own log file (``cli.log``), not only on the console.

Hydra prints the exception of a failed job to stderr; the log file it opened for the job (the
run directory's ``cli.log``) would hold nothing of it. :func:`log_failure` writes it there.
"""

from __future__ import annotations

import logging

__all__ = ["log_failure"]


def log_failure(exc: BaseException) -> None:
    """Write ``exc`` to the file handlers of the root logger (Hydra's job log) only.

    A config error (:class:`spt._hydra.ConfigError`) is its message; anything else comes with
    its traceback. The console already shows it, as Hydra prints it.
    """
    from spt._hydra import ConfigError

    detailed = not isinstance(exc, ConfigError)
    record = logging.LogRecord(
        name="spt",
        level=logging.ERROR,
        pathname=__file__,
        lineno=0,
        msg="spt: the run failed: %s",
        args=(f"{type(exc).__name__}: {exc}" if detailed else str(exc),),
        exc_info=(type(exc), exc, exc.__traceback__) if detailed else None,
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
