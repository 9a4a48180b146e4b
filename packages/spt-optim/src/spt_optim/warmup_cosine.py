"""Linear warmup followed by cosine annealing, as one scheduler."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["LinearWarmupCosineAnnealing", "warmup_cosine_factor"]


def warmup_cosine_factor(
    step: int, warmup_steps: int, total_steps: int, warmup_start_factor: float = 0.0
) -> float:
    """The multiplier of the base lr at ``step`` before ``eta_min`` is mixed in.

    ``warmup_start_factor + (1 - warmup_start_factor) * step / warmup_steps`` during warmup,
    then ``0.5 * (1 + cos(pi * (step - warmup_steps) / (total_steps - warmup_steps)))``,
    and 0 from ``total_steps`` on.
    """
    if step < warmup_steps:
        return warmup_start_factor + (1.0 - warmup_start_factor) * step / warmup_steps
    if step >= total_steps:
        return 0.0
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class LinearWarmupCosineAnnealing(LRScheduler):
    """Linear warmup to ``base_lr``, then cosine annealing to ``eta_min``.

    At scheduler step ``t`` (0 at construction):

    - ``t < warmup_steps``: ``lr = base_lr * (s + (1 - s) * t / warmup_steps)`` with
      ``s = warmup_start_factor``,
    - ``warmup_steps <= t < total_steps``:
      ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * p)) / 2`` with
      ``p = (t - warmup_steps) / (total_steps - warmup_steps)``,
    - ``t >= total_steps``: ``lr = eta_min``.

    The lr is computed in closed form from ``t``, so it does not drift when stepped many times.

    Args:
        optimizer: The optimizer.
        warmup_steps: Length of the linear warmup, in scheduler steps (0 for none).
        total_steps: Total length (warmup included), in scheduler steps.
        warmup_start_factor: Fraction of the base lr at ``t = 0``.
        eta_min: Final lr.
        last_epoch: Index of the last step, as in torch schedulers (-1 to start fresh).

    Examples:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = LinearWarmupCosineAnnealing(opt, warmup_steps=2, total_steps=6)
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(round(sched.get_last_lr()[0], 3))
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 0.854, 0.5, 0.146]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        total_steps: int,
        warmup_start_factor: float = 0.0,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if total_steps < 1:
            raise ValueError(
                f"LinearWarmupCosineAnnealing: total_steps must be >= 1, got {total_steps}"
            )
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                "LinearWarmupCosineAnnealing: warmup_steps must be in [0, total_steps]; got "
                f"warmup_steps={warmup_steps}, total_steps={total_steps}"
            )
        if not 0.0 <= warmup_start_factor <= 1.0:
            raise ValueError(
                "LinearWarmupCosineAnnealing: warmup_start_factor must be in [0, 1], got "
                f"{warmup_start_factor}"
            )
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.warmup_start_factor = warmup_start_factor
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr: float, step: int) -> float:
        factor = warmup_cosine_factor(
            step, self.warmup_steps, self.total_steps, self.warmup_start_factor
        )
        if step < self.warmup_steps:
            return base_lr * factor
        return self.eta_min + (base_lr - self.eta_min) * factor

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """Learning rates at the current step (closed form)."""
        return [self._lr_at(float(base), self.last_epoch) for base in self.base_lrs]

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()
