"""Every private attribute of Lightning this package reads, each behind one named function.

``tests/test_lightning.py`` checks each function against the installed Lightning: a release
that renames what one reads fails there (AttributeError) instead of changing behaviour
quietly. Nothing here has a fallback.
"""

from __future__ import annotations

from typing import Any

import lightning as pl
from lightning.pytorch.callbacks import Callback

__all__ = ["callback_state_key", "logs_this_step"]


def logs_this_step(trainer: pl.Trainer) -> bool:
    """Whether Lightning sends this training step's logged values to the loggers.

    True on every ``log_every_n_steps``-th step (the logger connector's own test,
    ``should_update_logs``) and on the last batch of an epoch, so that
    ``trainer.callback_metrics`` holds the latest value at the end of the epoch.

    Raises:
        AttributeError: If Lightning no longer has ``trainer._logger_connector.should_update_logs``.
    """
    return bool(trainer._logger_connector.should_update_logs or trainer.is_last_batch)


def callback_state_key(callback: Callback, **identity: Any) -> str:
    """The checkpoint key of ``callback``'s state: its class name and ``identity``.

    Lightning's ``Callback._generate_state_key`` (what its own callbacks use), e.g.
    ``"RankMe{'name': 'rank'}"``; the key decides which saved state a callback gets back.
    """
    return callback._generate_state_key(**identity)
