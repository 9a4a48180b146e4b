"""What DINO's class-token loss and iBOT's patch loss share: the teacher's temperature
warm-up, its centre and the validation of their common options."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from spt_losses import _distributed

Centering = Literal["center", "sinkhorn_knopp"]
CENTERINGS = ("center", "sinkhorn_knopp")


def warmup_temperature(epoch: int, start: float, end: float, warmup_epochs: int) -> float:
    """Linear warm-up from `start` at epoch 0 to `end` at epoch `warmup_epochs - 1`
    (`numpy.linspace(start, end, warmup_epochs)`, as in the DINO and iBOT code), then `end`."""
    if epoch >= warmup_epochs:
        return end
    if warmup_epochs == 1:
        return start
    return start + (end - start) / (warmup_epochs - 1) * max(epoch, 0)


class CentredTeacher(nn.Module):
    """Base of the self-distillation losses: options, temperature schedule and centre.

    Subclasses compute the loss; `_move_center(batch_center)` applies
    `center = m * center + (1 - m) * mean over ranks of batch_center`.
    """

    center: Tensor

    def __init__(
        self,
        owner: str,
        out_dim: int,
        student_temp: float,
        teacher_temp: float,
        warmup_teacher_temp: float,
        warmup_teacher_temp_epochs: int,
        center_momentum: float,
        centering: Centering,
        sinkhorn_iterations: int,
    ) -> None:
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"{owner}: out_dim must be >= 1; got {out_dim}")
        for name, value in [
            ("student_temp", student_temp),
            ("teacher_temp", teacher_temp),
            ("warmup_teacher_temp", warmup_teacher_temp),
        ]:
            if not value > 0:
                raise ValueError(f"{owner}: {name} must be > 0; got {value}")
        if warmup_teacher_temp_epochs < 0:
            raise ValueError(
                f"{owner}: warmup_teacher_temp_epochs must be >= 0; got "
                f"{warmup_teacher_temp_epochs}"
            )
        if centering not in CENTERINGS:
            raise ValueError(
                f"{owner}: centering must be one of {CENTERINGS}; got {centering!r} "
                "('sinkhorn_knopp' is DINOv2's option)"
            )
        if (
            isinstance(sinkhorn_iterations, bool)
            or not isinstance(sinkhorn_iterations, int)
            or sinkhorn_iterations < 1
        ):
            raise ValueError(
                f"{owner}: sinkhorn_iterations must be an int >= 1; got {sinkhorn_iterations!r}"
            )
        if not 0 <= center_momentum <= 1:
            raise ValueError(f"{owner}: center_momentum must be in [0, 1]; got {center_momentum}")
        self.out_dim = out_dim
        self.student_temp = float(student_temp)
        self.teacher_temp = float(teacher_temp)
        self.warmup_teacher_temp = float(warmup_teacher_temp)
        self.warmup_teacher_temp_epochs = int(warmup_teacher_temp_epochs)
        self.center_momentum = float(center_momentum)
        self.centering: Centering = centering
        self.sinkhorn_iterations = int(sinkhorn_iterations)
        self.register_buffer("center", torch.zeros(1, out_dim))

    def extra_repr(self) -> str:
        return (
            f"out_dim={self.out_dim}, student_temp={self.student_temp}, "
            f"teacher_temp={self.teacher_temp}, warmup_teacher_temp={self.warmup_teacher_temp}, "
            f"warmup_teacher_temp_epochs={self.warmup_teacher_temp_epochs}, "
            f"center_momentum={self.center_momentum}, centering={self.centering!r}"
        )

    def teacher_temperature(self, epoch: int) -> float:
        """Teacher temperature at `epoch` (0-based) under the warm-up schedule."""
        return warmup_temperature(
            epoch, self.warmup_teacher_temp, self.teacher_temp, self.warmup_teacher_temp_epochs
        )

    @torch.no_grad()
    def _move_center(self, batch_center: Tensor) -> None:
        """EMA of the centre towards `batch_center` (1, out_dim), averaged over ranks."""
        batch_center = _distributed.all_reduce_mean(batch_center)
        m = self.center_momentum
        self.center.mul_(m).add_(batch_center.to(self.center.dtype), alpha=1 - m)
