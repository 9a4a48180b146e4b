"""Every part of a Lightning ``Trainer`` that spt_optim touches beyond its plain settings.

Duck-typed: lightning is never imported. Each function names one thing it does to the
Trainer; one that needs an attribute Lightning no longer has raises instead of guessing,
and ``tests/test_lightning_internals.py`` checks each against the installed Lightning.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_train_data", "reset_train_loader", "resumes_from_checkpoint"]


def load_train_data(trainer: Any) -> bool:
    """Let ``trainer`` build its train DataLoader now, as ``estimated_stepping_batches`` does.

    After it, ``trainer.num_training_batches`` counts the batches of an epoch (already
    capped by ``limit_train_batches``).

    Args:
        trainer: A ``lightning.Trainer`` inside ``fit`` (e.g. in ``configure_optimizers``).

    Returns:
        Whether the loader was built by this call (False when it existed already, or when
        Lightning builds none: ``limit_train_batches=0`` or no ``training_step``).
    """
    if trainer.train_dataloader is not None:
        return False
    trainer.fit_loop.setup_data()
    return trainer.train_dataloader is not None


def resumes_from_checkpoint(trainer: Any) -> bool:
    """Whether ``trainer`` is fitting from a checkpoint (``fit(..., ckpt_path=...)``)."""
    return trainer.ckpt_path is not None


def reset_train_loader(trainer: Any) -> None:
    """Make Lightning build the train DataLoader again at the start of the fit loop.

    Lightning hands a stateful DataLoader its saved position only when it builds the loader
    after restoring the checkpoint. A loader built earlier (to count the batches of an
    epoch for a schedule) would start the epoch from its first batch, so it is dropped and
    Lightning builds it once more, after the restore.

    Args:
        trainer: A ``lightning.Trainer`` inside ``fit``, before its fit loop runs.

    Raises:
        AttributeError: If the fit loop has no ``_combined_loader`` (a Lightning version
            that keeps the train loader elsewhere; this function must follow it).
    """
    fit_loop = trainer.fit_loop
    if not hasattr(fit_loop, "_combined_loader"):
        raise AttributeError(
            f"spt_optim: {type(fit_loop).__name__} has no '_combined_loader', where Lightning "
            "2.x keeps the train DataLoader; spt_optim._lightning.reset_train_loader must be "
            "updated for this Lightning version"
        )
    fit_loop._combined_loader = None
