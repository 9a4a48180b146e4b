"""iBOT: masked patch self-distillation, with DINO's centre or DINOv2's Sinkhorn-Knopp."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from spt_losses._checks import check_rank
from spt_losses._precision import compute_dtype
from spt_losses._teacher import Centering, CentredTeacher
from spt_losses.sinkhorn import sinkhorn_knopp

__all__ = ["IBOTPatchLoss"]


class IBOTPatchLoss(CentredTeacher):
    """Masked image modelling loss of iBOT (Zhou et al., 2022, "iBOT: Image BERT
    Pre-Training with Online Tokenizer"), also DINOv2's patch loss (Oquab et al., 2023).

    The teacher sees the un-masked view, the student the same view with some patches
    masked. On every masked patch `j` of image `b` the teacher probabilities
    `q = softmax((t_bj - center) / teacher_temp)` (no gradient) are matched by the
    student log-probabilities `log_softmax(s_bj / student_temp)`:
    `l_bj = -sum_k q_k log p_k`. The reduction is the authors' (iBOT's and DINOv2's code):
    the mean over the masked patches of each image, then the mean over all B images,

        loss = (1 / B) * sum_b (1 / max(n_b, 1)) * sum_{j masked in b} l_bj,

    so an image with no masked patch (iBOT masks only part of the batch) adds 0 and still
    counts in B. Un-masked patches never enter the loss. Global views are stacked along the
    batch (B = views x images): the mean over images is then also the mean over views, as
    the papers average the loss of each global view.

    The teacher temperature warms up as in :class:`spt_losses.DINOLoss` (iBOT: 0.04 to
    0.07 over 30 epochs). The patch centre is its own buffer (1, out_dim), moved by
    `update_center(teacher_patches)` after the optimizer step:
    `center = m * center + (1 - m) * c`, with `c` the mean teacher output over every patch
    of every image and, under DDP, averaged over ranks (iBOT's patch centre).

    `centering="sinkhorn_knopp"` is DINOv2's: the teacher probabilities of the masked
    patches are the Sinkhorn-Knopp codes (:func:`spt_losses.sinkhorn_knopp`, `epsilon` the
    teacher temperature, 3 iterations) of the masked teacher patches of the global batch
    together (under DDP the sums and the number of masked patches run over every rank,
    which may hold different numbers); the centre is unused and `update_center` does
    nothing. This path selects the masked patches by boolean indexing (a device sync).

    On one rank the value is the mean over its own images; under DDP the mean over ranks
    is the loss of the global batch. Computed with autocast disabled, in the inputs'
    precision promoted to at least float32.

    Args:
        out_dim: size of the patch head's output (number of patch prototypes).
        student_temp: student temperature. Default 0.1.
        teacher_temp: teacher temperature after the warm-up. Default 0.07 (iBOT).
        warmup_teacher_temp: teacher temperature at epoch 0. Default 0.04.
        warmup_teacher_temp_epochs: length of the warm-up in epochs. Default 0 (none).
        center_momentum: momentum `m` of the patch centre. Default 0.9.
        centering: "center" (iBOT, the default) or "sinkhorn_knopp" (DINOv2).
        sinkhorn_iterations: Sinkhorn-Knopp iterations for "sinkhorn_knopp". Default 3.

    Shapes:
        - student_patches: (B, N, out_dim), the student's outputs on the masked view.
        - teacher_patches: (B, N, out_dim), the teacher's outputs on the un-masked view.
        - mask: (B, N) bool, True where the student's patch was masked.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = IBOTPatchLoss(out_dim=16)
        >>> student, teacher = torch.randn(2, 9, 16), torch.randn(2, 9, 16)
        >>> mask = torch.zeros(2, 9, dtype=torch.bool)
        >>> mask[0, :4] = True  # image 1 has no masked patch
        >>> loss = loss_fn(student, teacher, mask)
        >>> loss_fn.update_center(teacher)
    """

    def __init__(
        self,
        out_dim: int,
        student_temp: float = 0.1,
        teacher_temp: float = 0.07,
        warmup_teacher_temp: float = 0.04,
        warmup_teacher_temp_epochs: int = 0,
        center_momentum: float = 0.9,
        centering: Centering = "center",
        sinkhorn_iterations: int = 3,
    ) -> None:
        super().__init__(
            "IBOTPatchLoss",
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
        self, student_patches: Tensor, teacher_patches: Tensor, mask: Tensor, epoch: int = 0
    ) -> Tensor:
        """Computes the loss.

        Args:
            student_patches: (B, N, out_dim) student outputs of the masked view.
            teacher_patches: (B, N, out_dim) teacher outputs of the un-masked view; detached.
            mask: (B, N) bool, True on the patches the student did not see.
            epoch: current epoch, for the teacher-temperature warm-up.

        Returns:
            Scalar loss.

        Raises:
            ValueError: shapes that are not (B, N, out_dim) and (B, N), or a mask that is
                not boolean.
        """
        self._check(student_patches, teacher_patches, mask)
        temp = self.teacher_temperature(epoch)
        dtype = compute_dtype(student_patches, teacher_patches)
        batch = student_patches.shape[0]
        with torch.autocast(device_type=student_patches.device.type, enabled=False):
            # each masked patch weighs 1 / (number of masked patches of its image)
            counts = mask.sum(dim=1, keepdim=True).clamp(min=1).to(dtype)  # (B, 1)
            weights = mask.to(dtype) / counts  # (B, N)
            student = student_patches.to(dtype)
            teacher = teacher_patches.detach().to(dtype)
            if self.centering == "sinkhorn_knopp":
                log_p = F.log_softmax(student[mask] / self.student_temp, dim=-1)  # (M, K)
                q = sinkhorn_knopp(teacher[mask], epsilon=temp, iterations=self.sinkhorn_iterations)
                per_patch = -(q * log_p).sum(dim=-1)  # (M,)
                return (per_patch * weights[mask]).sum() / batch
            log_p = F.log_softmax(student / self.student_temp, dim=-1)  # (B, N, K)
            q = F.softmax((teacher - self.center.to(dtype)) / temp, dim=-1)
            per_patch = -(q * log_p).sum(dim=-1)  # (B, N)
            return (per_patch * weights).sum() / batch  # weights are 0 off the mask

    @torch.no_grad()
    def update_center(self, teacher_patches: Tensor) -> None:
        """Moves the patch centre towards the mean teacher output (patches, images, ranks).

        Does nothing with `centering="sinkhorn_knopp"`, which has no centre.

        Args:
            teacher_patches: (B, N, out_dim) teacher outputs, as passed to `forward`
                (a (1, M, out_dim) tensor of selected patches works too).
        """
        check_rank("teacher_patches", teacher_patches, 3, "(B, N, out_dim)")
        if teacher_patches.shape[-1] != self.out_dim:
            raise ValueError(
                f"teacher_patches must have out_dim = {self.out_dim} features; got shape "
                f"{tuple(teacher_patches.shape)}"
            )
        if self.centering == "sinkhorn_knopp":
            return
        dtype = compute_dtype(teacher_patches)
        # mean over the patches of each image, then over images: all images have N patches
        batch_center = teacher_patches.to(dtype).mean(dim=(0, 1)).unsqueeze(0)  # (1, K)
        self._move_center(batch_center)

    def _check(self, student: Tensor, teacher: Tensor, mask: Tensor) -> None:
        check_rank("student_patches", student, 3, "(B, N, out_dim)")
        check_rank("teacher_patches", teacher, 3, "(B, N, out_dim)")
        check_rank("mask", mask, 2, "(B, N)")
        if student.shape[-1] != self.out_dim or teacher.shape != student.shape:
            raise ValueError(
                f"student_patches and teacher_patches must both have shape (B, N, out_dim) "
                f"with out_dim = {self.out_dim}; got {tuple(student.shape)} and "
                f"{tuple(teacher.shape)}"
            )
        if mask.shape != student.shape[:2]:
            raise ValueError(
                f"mask must have shape (B, N) = {tuple(student.shape[:2])}; got {tuple(mask.shape)}"
            )
        if mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be a bool tensor (True = masked patch); got dtype {mask.dtype}; "
                "pass mask.bool()"
            )
