"""Teacher-student exponential moving average (BYOL, DINO) with a cosine momentum schedule.

A :class:`TeacherStudent` holds a trained student and its EMA teacher. The teacher moves
once after each step of the optimizer that trains the student: :func:`attach_teacher_updates`
registers a ``step`` post-hook on that optimizer, so gradient accumulation (no step on the
micro-batches) and skipped AMP steps are honoured without any bookkeeping. ``byol_forward``
and ``dino_forward`` attach it themselves; a custom forward calls
``attach_teacher_updates(self)`` or adds :class:`TeacherStudentCallback` to the Trainer.
"""

from __future__ import annotations

import copy
import math
import weakref
from typing import Any

import lightning as pl
import torch
from torch import nn
from typing_extensions import override

__all__ = [
    "TeacherStudent",
    "TeacherStudentCallback",
    "attach_teacher_updates",
    "cosine_momentum",
    "ema_update_",
]


def cosine_momentum(step: int, total_steps: int, base: float, final: float) -> float:
    """BYOL's schedule: ``final - (final - base) * (cos(pi * step / total_steps) + 1) / 2``.

    Equals ``base`` at step 0 and ``final`` at ``total_steps`` (and after it).

    Examples:
        >>> cosine_momentum(0, 100, 0.996, 1.0), cosine_momentum(100, 100, 0.996, 1.0)
        (0.996, 1.0)
    """
    if total_steps <= 0:
        return base
    progress = min(max(step / total_steps, 0.0), 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


@torch.no_grad()
def ema_update_(target: nn.Module, source: nn.Module, momentum: float) -> None:
    """``target = m * target + (1 - m) * source`` for parameters; buffers are copied.

    Buffers (batch-norm statistics, counters) follow the source exactly, as in BYOL and DINO.

    Examples:
        >>> teacher, student = nn.Linear(2, 2), nn.Linear(2, 2)
        >>> ema_update_(teacher, student, 0.0)
        >>> torch.allclose(teacher.weight, student.weight)
        True
    """
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.lerp_(s.detach(), 1.0 - momentum)
    for tb, sb in zip(target.buffers(), source.buffers(), strict=True):
        tb.copy_(sb)


class TeacherStudent(nn.Module):
    """A student network and its teacher, an exponential moving average of the student.

    The teacher never receives gradients (``requires_grad=False``). The teacher weights and
    the number of updates so far (buffer ``num_updates``) are in ``state_dict``, so in every
    checkpoint, and a resumed run continues the momentum schedule where it stopped.

    Args:
        student: The trained network.
        base_momentum: Teacher momentum at the first update (BYOL: 0.996, DINO: 0.996).
        final_momentum: Teacher momentum at the last update (1.0).
        total_steps: Length of the cosine schedule in teacher updates; ``None`` takes the
            number of optimizer steps of each run when :func:`attach_teacher_updates` runs.

    Examples:
        >>> pair = TeacherStudent(nn.Linear(4, 2), total_steps=10)
        >>> pair(torch.zeros(1, 4)).shape, pair.forward_teacher(torch.zeros(1, 4)).shape
        (torch.Size([1, 2]), torch.Size([1, 2]))
    """

    num_updates: torch.Tensor

    def __init__(
        self,
        student: nn.Module,
        base_momentum: float = 0.996,
        final_momentum: float = 1.0,
        total_steps: int | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("base_momentum", base_momentum), ("final_momentum", final_momentum)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"TeacherStudent: {name}={value} must be in [0, 1]")
        if total_steps is not None and total_steps < 1:
            raise ValueError(f"TeacherStudent: total_steps={total_steps} must be >= 1 or None")
        self.student = student
        self.teacher = copy.deepcopy(student)
        self.teacher.requires_grad_(False)
        self.base_momentum = base_momentum
        self.final_momentum = final_momentum
        self.total_steps = total_steps
        self._auto_total_steps = total_steps is None  # recomputed for each run
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self._hook: Any = None
        self._followed: weakref.ref[torch.optim.Optimizer] | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the student."""
        return self.student(*args, **kwargs)

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """``torch.compile`` the student's path (this module's call) and the teacher, which
        :meth:`forward_teacher` calls directly; the arguments are ``nn.Module.compile``'s."""
        super().compile(*args, **kwargs)
        self.teacher.compile(*args, **kwargs)

    @torch.no_grad()
    def forward_teacher(self, *args: Any, **kwargs: Any) -> Any:
        """Run the teacher, without gradients."""
        return self.teacher(*args, **kwargs)

    @property
    def momentum(self) -> float:
        """The momentum of the next update, from the cosine schedule."""
        return cosine_momentum(
            int(self.num_updates), self.total_steps or 0, self.base_momentum, self.final_momentum
        )

    @torch.no_grad()
    def update_teacher(self, momentum: float | None = None) -> None:
        """``teacher = m * teacher + (1 - m) * student``; buffers (batch-norm stats) are copied.

        Args:
            momentum: ``m``; ``None`` takes the scheduled :attr:`momentum` and counts the
                update in ``num_updates``.
        """
        scheduled = momentum is None
        m = self.momentum if momentum is None else momentum
        ema_update_(self.teacher, self.student, m)
        if scheduled:
            self.num_updates += 1

    def follow(self, optimizer: torch.optim.Optimizer) -> None:
        """Update the teacher after every ``optimizer.step()`` (a step post-hook).

        Idempotent; following a new optimizer (a new fit) drops the hook on the old one.
        """
        if self.followed is optimizer:
            return
        if self._hook is not None:
            self._hook.remove()

        def _after_step(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            self.update_teacher()

        self._hook = optimizer.register_step_post_hook(_after_step)
        self._followed = weakref.ref(optimizer)

    def __getstate__(self) -> dict[str, Any]:
        # The hook and the optimizer belong to one fit; a pickled copy follows no optimizer.
        state = dict(super().__getstate__())  # type: ignore[no-untyped-call]
        state["_hook"] = None
        state["_followed"] = None
        return state

    @property
    def followed(self) -> torch.optim.Optimizer | None:
        """The optimizer whose steps update the teacher, if any."""
        return None if self._followed is None else self._followed()


def _optimizer_steps(module: nn.Module, frequency: int) -> int | None:
    """Steps of an optimizer of ``module`` in its run (``spt_optim``'s length), or None."""
    from spt_optim import length_from_module

    length = length_from_module(module)
    if length is None:
        return None
    try:
        return length.optimizer_steps(frequency)
    except ValueError:  # the run's length is unknown (an iterable without a length)
        return None


def attach_teacher_updates(module: nn.Module) -> list[TeacherStudent]:
    """Make every :class:`TeacherStudent` of a fitting LightningModule follow its optimizer.

    For each pair, the first optimizer that holds student parameters gets a step post-hook
    that updates the teacher; a pair without ``total_steps`` gets the number of steps of that
    optimizer in the run. Cheap to call on every training batch (it is idempotent).

    Args:
        module: A LightningModule attached to a Trainer, after ``configure_optimizers``.

    Returns:
        The pairs found.

    Raises:
        ValueError: If no optimizer holds any parameter of a student.
    """
    pairs = [m for m in module.modules() if isinstance(m, TeacherStudent)]
    if not pairs:
        return pairs
    optimizers = module.optimizers(use_pl_optimizer=False)  # type: ignore[operator]
    if not isinstance(optimizers, list):
        optimizers = [optimizers]
    entries = list(getattr(module, "optimizer_entries", []) or [])
    for pair in pairs:
        if pair.followed is not None and any(pair.followed is opt for opt in optimizers):
            continue
        student = {id(p) for p in pair.student.parameters()}
        holders = [
            i
            for i, opt in enumerate(optimizers)
            if any(id(p) in student for g in opt.param_groups for p in g["params"])
        ]
        if not holders:
            raise ValueError(
                "attach_teacher_updates: no optimizer holds the parameters of a TeacherStudent's "
                "student, so its teacher would never move; check the optim routes (or freeze "
                "the pair and skip the EMA)"
            )
        index = holders[0]
        optimizer = optimizers[index]
        if pair._auto_total_steps:
            frequency = int(getattr(entries[index], "frequency", 1)) if index < len(entries) else 1
            pair.total_steps = _optimizer_steps(module, frequency)
        pair.follow(optimizer)
    return pairs


class TeacherStudentCallback(pl.Callback):
    """Attaches the teacher updates at train start, for forwards that do not do it themselves.

    ``spt.forward.byol_forward`` and ``dino_forward`` attach them already; this callback is
    for a custom forward that uses :class:`TeacherStudent`.
    """

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        attach_teacher_updates(pl_module)
