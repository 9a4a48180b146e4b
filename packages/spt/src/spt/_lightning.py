"""The one place where spt reads Lightning's private attributes.

Lightning keeps some state that spt needs behind underscore names. Every such read goes
through a named function here, and ``tests/test_lightning_private.py`` checks each one
against the installed Lightning, so a rename in Lightning fails a test instead of silently
changing behaviour. No function falls back to a default when the attribute is missing.
"""

from __future__ import annotations

from typing import Any

import lightning as pl

__all__ = ["attached_trainer", "cluster_environment", "is_last_batch"]


def attached_trainer(module: Any) -> pl.Trainer | None:
    """The Trainer a LightningModule is attached to, or ``None`` before it is.

    ``LightningModule.trainer`` raises while the module is not attached; the private
    ``_trainer`` holds ``None`` then, which is what code that runs both inside and outside a
    fit (a forward function called by hand, an EMA pair built before ``fit``) needs.

    Args:
        module: A ``LightningModule``; any other object (a plain ``nn.Module``) has no
            Trainer.

    Returns:
        The attached Trainer, or ``None``.

    Examples:
        >>> from torch import nn
        >>> attached_trainer(nn.Linear(2, 2)) is None
        True
    """
    if not isinstance(module, pl.LightningModule):
        return None
    trainer: pl.Trainer | None = module._trainer
    return trainer


def cluster_environment(trainer: pl.Trainer) -> Any:
    """The Trainer's cluster environment (``SLURMEnvironment``, ``LightningEnvironment``, ...).

    Strategies that hold one expose it as ``strategy.cluster_environment``; the others (a
    single-device strategy) leave it on the private accelerator connector.

    Args:
        trainer: A ``lightning.Trainer``.

    Returns:
        The cluster environment Lightning selected (or was given in ``plugins``).

    Raises:
        AttributeError: If the Trainer has no ``_accelerator_connector`` (a Lightning that
            moved it; this function must follow).
    """
    environment = getattr(trainer.strategy, "cluster_environment", None)
    if environment is not None:
        return environment
    return trainer._accelerator_connector.cluster_environment


def is_last_batch(trainer: pl.Trainer) -> bool:
    """Whether the batch that just ran is the last one of the training epoch.

    Args:
        trainer: A ``lightning.Trainer`` in ``on_train_batch_end``.

    Returns:
        Lightning's ``fit_loop.epoch_loop.batch_progress.is_last_batch``.
    """
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)
