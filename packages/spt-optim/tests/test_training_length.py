"""Schedule lengths: accumulation, optimizer frequency, interval, and Lightning's counters."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from spt_optim import TrainingLength


def _simulated_optimizer_steps(epochs: int, batches: int, accumulate: int, frequency: int) -> int:
    """Slow reference: walk every batch as Lightning does (the last partial window steps)."""
    steps = 0
    for _ in range(epochs):
        accumulated = 0
        for batch_idx in range(batches):
            if (batch_idx + 1) % accumulate == 0 or batch_idx + 1 == batches:
                accumulated += 1
                if accumulated % frequency == 0:
                    steps += 1
    return steps


@pytest.mark.parametrize("epochs", [1, 3])
@pytest.mark.parametrize("batches", [1, 7, 12])
@pytest.mark.parametrize("accumulate", [1, 2, 5])
@pytest.mark.parametrize("frequency", [1, 2, 3])
def test_optimizer_steps_match_a_simulated_loop(
    epochs: int, batches: int, accumulate: int, frequency: int
) -> None:
    length = TrainingLength(
        max_epochs=epochs, batches_per_epoch=batches, accumulate_grad_batches=accumulate
    )
    expected = _simulated_optimizer_steps(epochs, batches, accumulate, frequency)
    assert length.optimizer_steps(frequency) == max(1, expected)


def test_accumulation_shortens_the_schedule() -> None:
    # The reference library counted 1,000 here: too long by the accumulation factor.
    length = TrainingLength(max_epochs=10, batches_per_epoch=100, accumulate_grad_batches=4)
    assert length.scheduler_steps("step") == 250


def test_total_batches_alone() -> None:
    length = TrainingLength(total_batches=100, accumulate_grad_batches=3)
    assert length.optimizer_steps() == 34
    assert length.optimizer_steps(frequency=2) == 17


def test_total_batches_caps_the_epochs() -> None:
    # Lightning's max_steps: whichever ends first.
    length = TrainingLength(total_batches=30, max_epochs=10, batches_per_epoch=10)
    assert length.optimizer_steps() == 30
    assert length.scheduler_steps("epoch") == 10


def test_epoch_interval_counts_epochs() -> None:
    length = TrainingLength(max_epochs=7, batches_per_epoch=100, accumulate_grad_batches=4)
    assert length.scheduler_steps("epoch") == 7
    assert length.scheduler_steps("epoch", optimizer_frequency=3) == 7
    assert length.scheduler_steps("epoch", scheduler_frequency=2) == 3


def test_epoch_interval_from_batches_when_epochs_unknown() -> None:
    length = TrainingLength(total_batches=95, batches_per_epoch=10)
    assert length.scheduler_steps("epoch") == math.ceil(95 / 10)


def test_scheduler_frequency_divides_steps() -> None:
    length = TrainingLength(max_epochs=2, batches_per_epoch=10)
    assert length.scheduler_steps("step", optimizer_frequency=2, scheduler_frequency=5) == 2


def test_lengths_are_at_least_one() -> None:
    length = TrainingLength(max_epochs=1, batches_per_epoch=2)
    assert length.optimizer_steps(frequency=5) == 1
    assert length.scheduler_steps("step", scheduler_frequency=9) == 1


def test_from_trainer_reads_lightning_counters() -> None:
    class Trainer:
        train_dataloader = "loaded"
        max_steps = 50  # optimizer steps, after accumulation
        max_epochs = 5
        num_training_batches = 20
        accumulate_grad_batches = 2

    length = TrainingLength.from_trainer(Trainer())
    assert length == TrainingLength(
        total_batches=100, max_epochs=5, batches_per_epoch=20, accumulate_grad_batches=2
    )
    assert length.optimizer_steps() == 50


def test_from_trainer_treats_lightning_unknowns_as_none() -> None:
    class Trainer:
        train_dataloader = "loaded"
        max_steps = -1
        max_epochs = -1
        num_training_batches = float("inf")
        accumulate_grad_batches = 1

    assert TrainingLength.from_trainer(Trainer()) == TrainingLength()


def test_from_trainer_max_steps_counts_optimizer_steps_of_the_given_accumulation() -> None:
    # A module that accumulates by 3 itself (the Trainer's accumulation reset to 1): 4
    # optimizer steps are 12 batches, not 4.
    trainer = SimpleNamespace(
        train_dataloader="loaded",
        max_steps=4,
        max_epochs=10,
        num_training_batches=9,
        accumulate_grad_batches=1,
    )
    length = TrainingLength.from_trainer(trainer, accumulate_grad_batches=3)
    assert length == TrainingLength(
        total_batches=12, max_epochs=10, batches_per_epoch=9, accumulate_grad_batches=3
    )
    assert length.optimizer_steps() == 4
    assert length.training_batches() == 12


def test_from_trainer_builds_the_train_loader_when_the_trainer_has_none() -> None:
    class FitLoop:
        def __init__(self, trainer: Any) -> None:
            self.trainer = trainer

        def setup_data(self) -> None:
            self.trainer.train_dataloader = "built"
            self.trainer.num_training_batches = 6

    trainer = SimpleNamespace(
        train_dataloader=None,
        max_steps=-1,
        max_epochs=2,
        num_training_batches=float("inf"),  # Lightning's value before the loader exists
        accumulate_grad_batches=1,
        ckpt_path=None,
    )
    trainer.fit_loop = FitLoop(trainer)
    assert TrainingLength.from_trainer(trainer).optimizer_steps() == 12
    assert trainer.train_dataloader == "built"


def _simulated_training_batches(
    epochs: int, batches: int, accumulate: int, max_steps: int | None
) -> int:
    """Slow reference: batches Lightning runs before max_epochs or max_steps ends the fit."""
    seen = steps = 0
    for _ in range(epochs):
        for batch_idx in range(batches):
            if max_steps is not None and steps >= max_steps:
                return seen
            seen += 1
            if (batch_idx + 1) % accumulate == 0 or batch_idx + 1 == batches:
                steps += 1
    return seen


@pytest.mark.parametrize("epochs", [1, 3])
@pytest.mark.parametrize("batches", [1, 7, 12])
@pytest.mark.parametrize("accumulate", [1, 2, 5])
@pytest.mark.parametrize("max_steps", [None, 1, 4, 9])
def test_training_batches_match_a_simulated_loop(
    epochs: int, batches: int, accumulate: int, max_steps: int | None
) -> None:
    length = TrainingLength(
        total_batches=None if max_steps is None else max_steps * accumulate,
        max_epochs=epochs,
        batches_per_epoch=batches,
        accumulate_grad_batches=accumulate,
    )
    expected = _simulated_training_batches(epochs, batches, accumulate, max_steps)
    assert length.training_batches() == expected


def test_training_batches_from_total_batches_alone() -> None:
    assert TrainingLength(total_batches=10, accumulate_grad_batches=3).training_batches() == 10
    with pytest.raises(ValueError, match="give total_batches, or max_epochs and batches_per_epoch"):
        TrainingLength(max_epochs=3).training_batches()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total_batches": 0}, "total_batches must be >= 1 or None, got 0"),
        ({"max_epochs": -2}, "max_epochs must be >= 1 or None, got -2"),
        ({"batches_per_epoch": 0}, "batches_per_epoch must be >= 1 or None, got 0"),
        ({"accumulate_grad_batches": 0}, "accumulate_grad_batches must be >= 1, got 0"),
    ],
)
def test_bad_lengths_are_errors(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingLength(**kwargs)


def test_unknown_length_says_what_to_give() -> None:
    with pytest.raises(ValueError, match="give total_batches, or max_epochs and batches_per_epoch"):
        TrainingLength(max_epochs=3).optimizer_steps()
    with pytest.raises(ValueError, match=r"epoch-interval schedule length .* give max_epochs"):
        TrainingLength(total_batches=10).scheduler_steps("epoch")


def test_bad_frequencies_and_interval_are_errors() -> None:
    length = TrainingLength(total_batches=10)
    with pytest.raises(ValueError, match="optimizer frequency must be >= 1, got 0"):
        length.optimizer_steps(0)
    with pytest.raises(ValueError, match="scheduler frequency must be >= 1, got 0"):
        length.scheduler_steps("step", scheduler_frequency=0)
    with pytest.raises(ValueError, match="interval must be 'step' or 'epoch', got 'batch'"):
        length.scheduler_steps("batch")
