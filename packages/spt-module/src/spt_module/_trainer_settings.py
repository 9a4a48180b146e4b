"""Take Trainer settings that Lightning refuses under manual optimization over to the Module.

Lightning 2.x raises ``MisconfigurationException`` at the start of ``Trainer.fit`` when a
module with ``automatic_optimization = False`` meets ``Trainer(accumulate_grad_batches>1)`` or
``Trainer(gradient_clip_val=...)``. The check (``_verify_loop_configurations`` in
``Trainer._run``) runs right after ``LightningModule.configure_callbacks``, so
:class:`spt_module.Module` reads the three settings there, keeps them, and puts the Trainer's
values back to their defaults (``1``, ``None``, ``None``); the Module then accumulates and
clips itself.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import lightning.pytorch as pl

__all__ = ["SettingsKeeper", "TrainerSettings"]


@dataclass(frozen=True)
class TrainerSettings:
    """The accumulation and clipping settings the Module applies itself.

    Attributes:
        accumulate_grad_batches: Batches whose gradients add up before an optimizer step.
        gradient_clip_val: Clip threshold, ``None`` for no clipping.
        gradient_clip_algorithm: ``"norm"`` or ``"value"``; ``None`` means ``"norm"``.
    """

    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: str | None = None

    @property
    def is_default(self) -> bool:
        """Whether nothing needs to be taken over."""
        return self == TrainerSettings()


def _read(trainer: pl.Trainer) -> TrainerSettings:
    given = trainer.gradient_clip_algorithm  # a GradClipAlgorithmType (a str enum) or None
    algorithm = None if given is None else str(getattr(given, "value", given)).lower()
    clip = trainer.gradient_clip_val
    return TrainerSettings(
        accumulate_grad_batches=int(trainer.accumulate_grad_batches),
        gradient_clip_val=float(clip) if clip is not None and clip > 0 else None,
        gradient_clip_algorithm=algorithm,
    )


class SettingsKeeper:
    """Remembers the settings taken from one Trainer.

    A Trainer whose values were reset by an earlier call (a second ``fit`` on the same
    Trainer) keeps the settings taken the first time; a new Trainer, or new values set on
    the same Trainer, replace them.
    """

    def __init__(self) -> None:
        self.settings = TrainerSettings()
        self._trainer: weakref.ReferenceType[pl.Trainer] | None = None

    def take_over(self, trainer: pl.Trainer) -> TrainerSettings:
        """Read the settings from ``trainer``, reset them there and return them."""
        current = _read(trainer)
        same_trainer = self._trainer is not None and self._trainer() is trainer
        if not (same_trainer and current.is_default):
            self.settings = current
        self._trainer = weakref.ref(trainer)
        trainer.accumulate_grad_batches = 1
        trainer.gradient_clip_val = None
        trainer.gradient_clip_algorithm = None
        return self.settings
