"""Training-schedule callbacks: a cosine weight-decay schedule over the run's optimizer steps.

Where the other schedules of the methods live:

- EMA teacher momentum (BYOL, DINO, MoCo): the cosine schedule of ``spt.ema.TeacherStudent``,
  whose length is the number of steps of the optimizer it follows.
- DINO's teacher-temperature warm-up: ``spt_losses.DINOLoss(warmup_teacher_temp=...,
  warmup_teacher_temp_epochs=...)``; the loss reads the epoch that ``spt.forward.dino`` passes
  it, so the warm-up needs no callback and any method built on ``DINOLoss`` has it.
- Learning rate: the scheduler of the optimizer spec (``spt_optim``).

Every length comes from one reader of the Trainer, ``spt_optim.length_from_module``.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as pl
import torch
from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from spt_callbacks._lightning import callback_state_key

__all__ = ["WeightDecaySchedule", "cosine_value"]


def cosine_value(step: int, total_steps: int, start: float, end: float) -> float:
    """Cosine from ``start`` (step 0) to ``end`` (step ``total_steps - 1``), then ``end``.

    Examples:
        >>> [round(cosine_value(step, 5, 0.04, 0.4), 4) for step in (0, 2, 4, 9)]
        [0.04, 0.22, 0.4, 0.4]
    """
    if total_steps <= 1:
        return start if step <= 0 else end
    progress = min(max(step, 0), total_steps - 1) / (total_steps - 1)
    return start + (end - start) * (1.0 - math.cos(math.pi * progress)) / 2.0


class WeightDecaySchedule(Callback):
    """Cosine weight decay from ``start`` to ``end`` over the optimizer steps of the run.

    DINO (Caron et al. 2021) raises the weight decay of ViTs from 0.04 to 0.4 with a cosine
    over the training iterations; iBOT and DINOv2 do the same. Before each step of an
    optimizer, the param groups that had ``weight_decay > 0`` when training started get the
    value of the schedule at that optimizer's step; groups without decay (biases and norms
    excluded by the spec) stay at 0. The last step of the run uses ``end``. The length is
    ``spt_optim.length_from_module(pl_module)``: the optimizer steps of the run, with
    accumulation and the optimizer's ``frequency``. Works with any LightningModule whose
    optimizers step through Lightning (automatic or manual optimization).

    The steps taken so far and the groups it schedules are in the checkpoint, so a resumed
    run continues the curve where it stopped.

    Args:
        start: Weight decay of the first step.
        end: Weight decay of the last step.

    Raises:
        ValueError: ``start`` or ``end`` is negative; (at train start) no param group has
            weight decay, or the run's length is unknown.

    Examples:
        >>> schedule = WeightDecaySchedule(start=0.04, end=0.4)
        >>> # lightning.Trainer(callbacks=[schedule], max_epochs=100).fit(module)
    """

    def __init__(self, start: float, end: float) -> None:
        super().__init__()
        for name, value in (("start", start), ("end", end)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(
                    f"WeightDecaySchedule: {name} must be a number >= 0, got {value!r}"
                )
        self.start = float(start)
        self.end = float(end)
        self.steps: dict[int, int] = {}  # optimizer index -> steps taken
        self.groups: dict[int, list[int]] = {}  # optimizer index -> scheduled group indices
        self._total: dict[int, int] = {}
        self._index: dict[int, int] = {}  # id(optimizer) -> optimizer index

    @property
    @override
    def state_key(self) -> str:
        return callback_state_key(self, start=self.start, end=self.end)

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from spt_optim import length_from_module

        optimizers = [getattr(o, "optimizer", o) for o in trainer.optimizers]
        self._index = {id(opt): i for i, opt in enumerate(optimizers)}
        if not self.groups:  # a resumed run keeps the groups it scheduled from the start
            self.groups = {
                i: [g for g, group in enumerate(opt.param_groups) if group["weight_decay"] > 0]
                for i, opt in enumerate(optimizers)
            }
            self.groups = {i: gs for i, gs in self.groups.items() if gs}
        if not self.groups:
            found = [
                [group.get("weight_decay") for group in opt.param_groups] for opt in optimizers
            ]
            raise ValueError(
                "WeightDecaySchedule: no param group has weight_decay > 0 (per optimizer: "
                f"{found}); give the optimizer a weight_decay, e.g. "
                "optim={'optimizer': {'type': 'AdamW', 'weight_decay': 0.04}}"
            )
        length = length_from_module(pl_module)
        entries = list(getattr(pl_module, "optimizer_entries", []) or [])
        for i in self.groups:
            frequency = int(getattr(entries[i], "frequency", 1)) if i < len(entries) else 1
            try:
                total = None if length is None else length.optimizer_steps(frequency)
            except ValueError:
                total = None
            if total is None:
                raise ValueError(
                    "WeightDecaySchedule: the run's length is unknown (a train loader without "
                    "a length and no max_steps); set Trainer(max_steps=...) or max_epochs with "
                    "a sized loader"
                )
            self._total[i] = total

    def value(self, optimizer_index: int = 0) -> float:
        """The weight decay of the next step of optimizer ``optimizer_index``."""
        total = self._total.get(optimizer_index, 1)
        return cosine_value(self.steps.get(optimizer_index, 0), total, self.start, self.end)

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        index = self._index.get(id(getattr(optimizer, "optimizer", optimizer)))
        if index is None or index not in self.groups:
            return
        value = self.value(index)
        for g in self.groups[index]:
            optimizer.param_groups[g]["weight_decay"] = value
        self.steps[index] = self.steps.get(index, 0) + 1

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"steps": dict(self.steps), "groups": {i: list(g) for i, g in self.groups.items()}}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.steps = {int(i): int(n) for i, n in state_dict["steps"].items()}
        self.groups = {int(i): [int(g) for g in gs] for i, gs in state_dict["groups"].items()}
