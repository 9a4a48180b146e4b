"""WeightDecaySchedule: a cosine over the optimizer steps, where decay is on, resumable."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from spt_callbacks import WeightDecaySchedule
from spt_callbacks.schedules import cosine_value
from spt_module.testing import make_dataloader, make_module, make_trainer

START, END = 0.04, 0.4
OPTIM = {
    "optimizer": {"type": "SGD", "lr": 0.01, "weight_decay": 0.5},
    "exclude_bias_and_norm": True,
    "scheduler": None,
}


class RecordDecay(Callback):
    """Records the weight decay of every param group as each optimizer step runs."""

    def __init__(self) -> None:
        self.seen: list[list[float]] = []

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        self.seen.append([g["weight_decay"] for g in optimizer.param_groups])


def expected(step: int, total: int) -> float:
    return END + (START - END) * (1 + math.cos(math.pi * step / (total - 1))) / 2


def fit(max_epochs: int, callbacks: list[Callback], **kwargs: Any) -> Any:
    trainer = make_trainer(callbacks=callbacks, max_epochs=max_epochs)
    # 64 samples in batches of 16: 4 optimizer steps per epoch
    trainer.fit(make_module(optim=OPTIM), make_dataloader(n=64, batch_size=16), **kwargs)
    return trainer


def test_cosine_value_runs_from_start_to_end():
    assert cosine_value(0, 9, START, END) == START
    assert cosine_value(4, 9, START, END) == pytest.approx((START + END) / 2)
    assert cosine_value(8, 9, START, END) == pytest.approx(END)
    assert cosine_value(20, 9, START, END) == pytest.approx(END)


def test_weight_decay_follows_the_cosine_at_start_middle_and_end():
    record = RecordDecay()  # after the schedule in the list: sees the values it set
    fit(3, [WeightDecaySchedule(START, END), record])
    total = 12
    assert len(record.seen) == total
    decayed = [seen[0] for seen in record.seen]
    assert decayed[0] == pytest.approx(START)
    assert decayed[total // 2] == pytest.approx(expected(total // 2, total))
    assert decayed[-1] == pytest.approx(END)
    assert decayed == pytest.approx([expected(s, total) for s in range(total)])


def test_groups_without_weight_decay_stay_at_zero():
    record = RecordDecay()
    fit(1, [WeightDecaySchedule(START, END), record])
    assert len(record.seen[0]) == 2  # weights, then biases (excluded from decay)
    assert all(seen[1] == 0.0 for seen in record.seen)


def test_resume_continues_the_schedule_where_it_stopped(tmp_path):
    straight = RecordDecay()
    fit(3, [WeightDecaySchedule(START, END), straight])

    first = make_trainer(callbacks=[WeightDecaySchedule(START, END)], max_epochs=1)
    first.fit(make_module(optim=OPTIM), make_dataloader(n=64, batch_size=16))
    first.save_checkpoint(tmp_path / "epoch0.ckpt")
    saved = torch.load(tmp_path / "epoch0.ckpt", weights_only=True)["callbacks"]
    assert saved[WeightDecaySchedule(START, END).state_key]["steps"] == {0: 4}

    tail = RecordDecay()
    resumed = WeightDecaySchedule(START, END)
    fit(3, [resumed, tail], ckpt_path=tmp_path / "epoch0.ckpt")
    assert resumed.steps == {0: 12}
    assert tail.seen == straight.seen[4:]


def test_no_group_with_weight_decay_is_an_error_naming_the_fix():
    optim = {"optimizer": {"type": "SGD", "lr": 0.01}, "scheduler": None}
    trainer = make_trainer(callbacks=[WeightDecaySchedule(START, END)])
    with pytest.raises(ValueError, match=r"no param group has weight_decay > 0.*weight_decay"):
        trainer.fit(make_module(optim=optim), make_dataloader(n=32, batch_size=16))


def test_negative_values_are_rejected():
    with pytest.raises(ValueError, match="end must be a number >= 0, got -1"):
        WeightDecaySchedule(0.04, -1)
