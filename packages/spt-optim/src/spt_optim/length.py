"""How long training is, in the units schedulers count in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from spt_optim import _lightning

__all__ = ["TrainingLength"]


def _positive_or_none(value: Any) -> int | None:
    """An int > 0, or None for None, -1, 0 and infinity (Lightning's "unknown" values)."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    as_int = int(value)
    return as_int if as_int > 0 else None


@dataclass(frozen=True)
class TrainingLength:
    """The length of a training run, from which schedule lengths are derived.

    Args:
        total_batches: Training batches (forward passes) in the whole run. Takes precedence
            over ``max_epochs * batches_per_epoch`` as a cap (e.g. Lightning's ``max_steps``).
        max_epochs: Number of epochs.
        batches_per_epoch: Training batches per epoch.
        accumulate_grad_batches: Batches accumulated into one optimizer step.

    Counting follows Lightning: with accumulation ``A`` an epoch of ``B`` batches gives
    ``ceil(B / A)`` accumulated steps (the last, partial window of an epoch also steps), and
    an optimizer with ``frequency=f`` steps on every ``f``-th accumulated step of an epoch.

    Examples:
        >>> length = TrainingLength(max_epochs=10, batches_per_epoch=100, accumulate_grad_batches=4)
        >>> length.optimizer_steps()
        250
        >>> length.optimizer_steps(frequency=2)
        120
        >>> length.scheduler_steps("epoch")
        10
    """

    total_batches: int | None = None
    max_epochs: int | None = None
    batches_per_epoch: int | None = None
    accumulate_grad_batches: int = 1

    def __post_init__(self) -> None:
        for name in ("total_batches", "max_epochs", "batches_per_epoch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"TrainingLength: {name} must be >= 1 or None, got {value}")
        if self.accumulate_grad_batches < 1:
            raise ValueError(
                "TrainingLength: accumulate_grad_batches must be >= 1, got "
                f"{self.accumulate_grad_batches}"
            )

    @classmethod
    def from_trainer(
        cls, trainer: Any, accumulate_grad_batches: int | None = None
    ) -> TrainingLength:
        """The length of the run a Lightning ``Trainer`` does (duck-typed: no lightning import).

        The one reader of the Trainer for run length in spt: every schedule (optimizers,
        probes, EMA teachers) asks it. Reads ``max_steps`` (optimizer steps: the run ends
        after ``max_steps * accumulation`` batches at most), ``max_epochs``,
        ``num_training_batches`` (batches per epoch, after ``limit_train_batches``) and the
        accumulation. The train DataLoader is built first when the Trainer has not built it
        yet, as ``estimated_stepping_batches`` does; when this builds it in a run that resumes
        from a checkpoint, Lightning is told to build it again after the restore, so that a
        stateful loader gets its saved position back.

        Args:
            trainer: A ``lightning.Trainer`` inside ``fit`` (e.g. in ``configure_optimizers``
                or ``on_fit_start``), or anything with those attributes.
            accumulate_grad_batches: Batches per optimizer step, when it is not the
                Trainer's own (``spt_module.Module`` applies accumulation itself and resets
                the Trainer's to 1). None reads ``trainer.accumulate_grad_batches``.

        Returns:
            The training length; unknown quantities (Lightning's ``-1``, ``inf``) are None.

        Examples:
            >>> from types import SimpleNamespace
            >>> trainer = SimpleNamespace(
            ...     train_dataloader=[], max_steps=-1, max_epochs=3, num_training_batches=10,
            ...     accumulate_grad_batches=2,
            ... )
            >>> TrainingLength.from_trainer(trainer).optimizer_steps()
            15
            >>> TrainingLength.from_trainer(trainer, accumulate_grad_batches=5).optimizer_steps()
            6
        """
        if _lightning.load_train_data(trainer) and _lightning.resumes_from_checkpoint(trainer):
            _lightning.reset_train_loader(trainer)
        if accumulate_grad_batches is None:
            accumulate_grad_batches = trainer.accumulate_grad_batches
        accumulate = int(accumulate_grad_batches)
        max_steps = _positive_or_none(trainer.max_steps)
        return cls(
            total_batches=None if max_steps is None else max_steps * accumulate,
            max_epochs=_positive_or_none(trainer.max_epochs),
            batches_per_epoch=_positive_or_none(trainer.num_training_batches),
            accumulate_grad_batches=accumulate,
        )

    def training_batches(self) -> int:
        """Training batches (forward passes) in the whole run, for what steps on every batch.

        The batches until the last accumulated step of the run: the epochs' batches when the
        run ends by ``max_epochs``; with a cap of ``total_batches`` (Lightning's ``max_steps``)
        inside an epoch, the full epochs plus the accumulation windows of the last one.

        Returns:
            The number of batches, at least 1.

        Raises:
            ValueError: When neither ``total_batches`` nor both ``max_epochs`` and
                ``batches_per_epoch`` are known.

        Examples:
            >>> TrainingLength(max_epochs=3, batches_per_epoch=10).training_batches()
            30
            >>> capped = TrainingLength(total_batches=8, max_epochs=3, batches_per_epoch=10)
            >>> capped.training_batches()
            8
        """
        steps = self.accumulated_steps()  # raises when the length is not known
        acc = self.accumulate_grad_batches
        if self.batches_per_epoch is None:
            batches = steps * acc
        else:
            full_epochs, steps_in_last = divmod(steps, math.ceil(self.batches_per_epoch / acc))
            batches = full_epochs * self.batches_per_epoch + steps_in_last * acc
        if self.total_batches is not None:
            batches = min(batches, self.total_batches)
        return max(1, batches)

    def accumulated_steps(self) -> int:
        """Accumulated steps (optimizer steps at frequency 1) in the whole run."""
        return self.optimizer_steps(1)

    def optimizer_steps(self, frequency: int = 1) -> int:
        """Steps taken by an optimizer that steps every ``frequency`` accumulated batches.

        Args:
            frequency: The optimizer's step frequency, in accumulated batches.

        Returns:
            The number of optimizer steps, at least 1.

        Raises:
            ValueError: When neither ``total_batches`` nor both ``max_epochs`` and
                ``batches_per_epoch`` are known.
        """
        if frequency < 1:
            raise ValueError(f"optimizer frequency must be >= 1, got {frequency}")
        acc = self.accumulate_grad_batches
        candidates: list[int] = []
        if self.max_epochs is not None and self.batches_per_epoch is not None:
            per_epoch = math.ceil(self.batches_per_epoch / acc) // frequency
            candidates.append(per_epoch * self.max_epochs)
        if self.total_batches is not None:
            candidates.append(math.ceil(self.total_batches / acc) // frequency)
        if not candidates:
            raise ValueError(
                f"cannot compute the number of optimizer steps from {self!r}: give total_batches, "
                "or max_epochs and batches_per_epoch"
            )
        return max(1, min(candidates))

    def scheduler_steps(
        self, interval: str, optimizer_frequency: int = 1, scheduler_frequency: int = 1
    ) -> int:
        """Number of times a scheduler steps in the whole run.

        Args:
            interval: ``"step"`` (the scheduler steps after each step of its optimizer) or
                ``"epoch"`` (after each epoch).
            optimizer_frequency: The optimizer's step frequency, in accumulated batches.
            scheduler_frequency: The scheduler steps every this many intervals.

        Returns:
            The number of scheduler steps, at least 1.

        Raises:
            ValueError: For a bad interval or frequency, or a length that is not known.
        """
        if scheduler_frequency < 1:
            raise ValueError(f"scheduler frequency must be >= 1, got {scheduler_frequency}")
        if interval == "step":
            steps = self.optimizer_steps(optimizer_frequency)
        elif interval == "epoch":
            epochs = self.max_epochs
            if epochs is None and self.total_batches and self.batches_per_epoch:
                epochs = math.ceil(self.total_batches / self.batches_per_epoch)
            if epochs is None:
                raise ValueError(
                    f"cannot compute an epoch-interval schedule length from {self!r}: "
                    "give max_epochs"
                )
            steps = epochs
        else:
            raise ValueError(f"interval must be 'step' or 'epoch', got {interval!r}")
        return max(1, steps // scheduler_frequency)
