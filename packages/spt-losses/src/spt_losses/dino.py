"""DINO: self-distillation with a centred, sharpened teacher, over multiple crops."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from spt_losses._checks import check_rank
from spt_losses._precision import compute_dtype
from spt_losses._teacher import Centering, CentredTeacher
from spt_losses.sinkhorn import sinkhorn_knopp


class DINOLoss(CentredTeacher):
    """DINO loss (Caron et al., 2021, "Emerging Properties in Self-Supervised Vision
    Transformers").

    Teacher probabilities `softmax((t - center) / teacher_temp)` (no gradient) are matched
    by student log-probabilities `log_softmax(s / student_temp)`. Each teacher view `i`
    (the global crops) is paired with every student view `v != i`; the loss is the
    cross-entropy averaged over the batch and then over the pairs. Student views are the
    global crops first (same order as the teacher's), then the local crops.

    The teacher temperature rises linearly from `warmup_teacher_temp` to `teacher_temp`
    over `warmup_teacher_temp_epochs` epochs (`numpy.linspace` of those values, as in the
    paper's code) and stays at `teacher_temp` afterwards.

    The centre is a buffer, updated by calling `update_center(teacher_outputs)` after the
    optimizer step: `center = m * center + (1 - m) * mean(teacher outputs)`, the mean
    taken over every view and, under DDP, averaged across ranks, so all ranks keep the same
    centre. The forward pass does not change it.

    `centering="sinkhorn_knopp"` is DINOv2's option (Oquab et al., 2023, "DINOv2: Learning
    Robust Visual Features without Supervision", after Ruan et al., 2023): the teacher
    probabilities are the Sinkhorn-Knopp codes (:func:`spt_losses.sinkhorn_knopp`, with
    `epsilon` the teacher temperature, `sinkhorn_iterations` iterations, 3 in DINOv2) of
    the teacher outputs of every global view of the global batch together (under DDP the
    sums run over every rank); the student keeps its softmax. The centre is then unused
    and `update_center` does nothing.

    The value returned on a rank is the mean over its own samples; under DDP its mean
    over ranks is the loss of the global batch. Computed with autocast disabled, in the
    outputs' precision promoted to at least float32 (the centre is cast to it; it keeps
    the dtype of its buffer, float32 unless the module is converted).

    Args:
        out_dim: size of the projection head output (number of prototypes).
        student_temp: student temperature. Default 0.1.
        teacher_temp: teacher temperature after the warm-up. Default 0.04.
        warmup_teacher_temp: teacher temperature at epoch 0. Default 0.04.
        warmup_teacher_temp_epochs: length of the warm-up in epochs. Default 0 (none).
        center_momentum: momentum `m` of the centre. Default 0.9.
        centering: "center" (DINO, the default) or "sinkhorn_knopp" (DINOv2).
        sinkhorn_iterations: Sinkhorn-Knopp iterations for "sinkhorn_knopp". Default 3.

    Shapes:
        - student_outputs: list of V_s tensors (B, out_dim).
        - teacher_outputs: list of V_t tensors (B, out_dim), 1 <= V_t <= V_s.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = DINOLoss(out_dim=32)
        >>> student = [torch.randn(4, 32) for _ in range(4)]
        >>> teacher = [torch.randn(4, 32) for _ in range(2)]
        >>> loss = loss_fn(student, teacher, epoch=0)
        >>> loss_fn.update_center(teacher)
    """

    def __init__(
        self,
        out_dim: int,
        student_temp: float = 0.1,
        teacher_temp: float = 0.04,
        warmup_teacher_temp: float = 0.04,
        warmup_teacher_temp_epochs: int = 0,
        center_momentum: float = 0.9,
        centering: Centering = "center",
        sinkhorn_iterations: int = 3,
    ) -> None:
        super().__init__(
            "DINOLoss",
            out_dim,
            student_temp,
            teacher_temp,
            warmup_teacher_temp,
            warmup_teacher_temp_epochs,
            center_momentum,
            centering,
            sinkhorn_iterations,
        )

    def forward(
        self,
        student_outputs: Sequence[Tensor],
        teacher_outputs: Sequence[Tensor],
        epoch: int = 0,
    ) -> Tensor:
        """Computes the loss.

        Args:
            student_outputs: V_s tensors (B, out_dim), global crops first.
            teacher_outputs: V_t tensors (B, out_dim) of the global crops; detached here.
            epoch: current epoch, for the teacher-temperature warm-up.

        Returns:
            Scalar loss.

        Raises:
            ValueError: empty lists, more teacher than student views, no pair of different
                views, or a tensor whose shape is not (B, out_dim) with the B of the first.
        """
        self._check(student_outputs, teacher_outputs)
        temp = self.teacher_temperature(epoch)
        device_type = student_outputs[0].device.type
        dtype = compute_dtype(*student_outputs, *teacher_outputs)
        with torch.autocast(device_type=device_type, enabled=False):
            teacher = self._teacher_probabilities(teacher_outputs, temp, dtype)
            student = [
                F.log_softmax(s.to(dtype) / self.student_temp, dim=-1) for s in student_outputs
            ]
            total = student[0].new_zeros(())
            pairs = 0
            for i, q in enumerate(teacher):
                for v, log_p in enumerate(student):
                    if v == i:
                        continue
                    total = total + (-q * log_p).sum(dim=-1).mean()
                    pairs += 1
        return total / pairs

    def _teacher_probabilities(
        self, teacher_outputs: Sequence[Tensor], temp: float, dtype: torch.dtype
    ) -> list[Tensor]:
        if self.centering == "sinkhorn_knopp":
            joint = torch.cat([t.detach().to(dtype) for t in teacher_outputs])  # (V_t * B, K)
            codes = sinkhorn_knopp(joint, epsilon=temp, iterations=self.sinkhorn_iterations)
            return list(torch.split(codes, teacher_outputs[0].shape[0]))
        center = self.center.to(dtype)
        return [F.softmax((t.detach().to(dtype) - center) / temp, dim=-1) for t in teacher_outputs]

    @torch.no_grad()
    def update_center(self, teacher_outputs: Sequence[Tensor]) -> None:
        """Moves the centre towards the mean teacher output (over views, samples, ranks).

        Does nothing with `centering="sinkhorn_knopp"`, which has no centre.

        Args:
            teacher_outputs: V_t tensors (B, out_dim), as passed to `forward`.
        """
        if len(teacher_outputs) == 0:
            raise ValueError("update_center needs at least one teacher output; got none")
        for i, t in enumerate(teacher_outputs):
            check_rank(f"teacher_outputs[{i}]", t, 2, "(B, out_dim)")
        if self.centering == "sinkhorn_knopp":
            return
        dtype = compute_dtype(*teacher_outputs)
        batch_center = torch.cat([t.to(dtype) for t in teacher_outputs]).mean(dim=0, keepdim=True)
        self._move_center(batch_center)

    def _check(self, student: Sequence[Tensor], teacher: Sequence[Tensor]) -> None:
        if len(student) == 0 or len(teacher) == 0:
            raise ValueError(
                f"DINOLoss needs lists of student and teacher outputs; got {len(student)} "
                f"student and {len(teacher)} teacher views"
            )
        if len(teacher) > len(student):
            raise ValueError(
                f"DINOLoss expects at most as many teacher views as student views (the "
                f"teacher sees the global crops only); got {len(teacher)} teacher and "
                f"{len(student)} student views"
            )
        if len(student) == 1:
            raise ValueError(
                "DINOLoss needs at least two student views (a teacher view is never paired "
                "with the student view of the same index); got 1"
            )
        first = student[0]
        for group, outputs in [("student_outputs", student), ("teacher_outputs", teacher)]:
            for i, x in enumerate(outputs):
                check_rank(f"{group}[{i}]", x, 2, "(B, out_dim)")
                if x.shape[0] != first.shape[0] or x.shape[1] != self.out_dim:
                    raise ValueError(
                        f"{group}[{i}] must have shape (B, out_dim) = "
                        f"({first.shape[0]}, {self.out_dim}); got {tuple(x.shape)} "
                        f"(student_outputs[0] has shape {tuple(first.shape)})"
                    )
