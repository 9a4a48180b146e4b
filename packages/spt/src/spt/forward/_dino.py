"""DINO (Caron et al. 2021): self-distillation from an EMA teacher on global views."""

from __future__ import annotations

from typing import Any

import torch

from spt._lightning import attached_trainer
from spt.forward._byol import _teacher_student, attach_ema
from spt.forward._views import as_views, base_outputs, component, encode_views


def dino_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """DINO: the student matches the centred, sharpened teacher over all views.

    Components: ``self.backbone`` and ``self.projector`` (the DINO head), each a
    :class:`spt.ema.TeacherStudent`; ``self.dino_loss`` (``spt.losses.DINOLoss``). The first
    ``self.n_global_views`` views (default 2) are global: the teacher sees only those; any
    further (local, possibly smaller) views go to the student only. The teachers move after
    each optimizer step (:func:`spt.ema.attach_teacher_updates`). The loss's centre is updated
    from the teacher outputs of each training batch.

    Returns:
        ``{"embedding": (G*B, D) student embeddings of the G global views, "label", "loss"}``
        (local crops are left out of ``embedding``: the callbacks compare it with full-size
        validation images).
    """
    method = "dino_forward"
    views = as_views(batch, method)
    backbone = _teacher_student(self, "backbone", method)
    images = [v["image"] for v in views]
    embeddings = encode_views(backbone, images)
    n_global = int(getattr(self, "n_global_views", 2))
    out = base_outputs(views[:n_global], embeddings[:n_global])
    if len(views) < 2:
        if stage == "fit":
            raise ValueError(f"{method}: needs at least two views per sample in fit (global crops)")
        return out
    attach_ema(self, stage)
    projector = _teacher_student(self, "projector", method)
    loss_fn = component(self, "dino_loss", method)
    student = encode_views(projector, embeddings)
    with torch.no_grad():
        teacher = encode_views(
            projector.forward_teacher, encode_views(backbone.forward_teacher, images[:n_global])
        )
    trainer = attached_trainer(self)
    epoch = trainer.current_epoch if trainer is not None else 0
    out["loss"] = loss_fn(student, teacher, epoch=epoch)
    if stage == "fit" and hasattr(loss_fn, "update_center"):
        loss_fn.update_center(teacher)
    return out
