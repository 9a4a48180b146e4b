"""BYOL (Grill et al. 2020): a student predicts an EMA teacher's projection of another view."""

from __future__ import annotations

from typing import Any

import torch

from spt._lightning import attached_trainer
from spt.ema import TeacherStudent, attach_teacher_updates
from spt.forward._views import (
    as_views,
    base_outputs,
    component,
    encode_views,
    split_projections,
)


def _teacher_student(self: Any, name: str, method: str) -> TeacherStudent:
    value = component(self, name, method)
    if not isinstance(value, TeacherStudent):
        raise TypeError(
            f"{method}: self.{name} must be spt.ema.TeacherStudent(network) so it has an EMA "
            f"teacher, got {type(value).__name__}"
        )
    return value


def attach_ema(self: Any, stage: str) -> None:
    """In fit, make the teachers follow the optimizer steps (see ``spt.ema``)."""
    if stage == "fit" and attached_trainer(self) is not None:
        attach_teacher_updates(self)


def byol_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """BYOL: symmetric negative cosine between student predictions and teacher projections.

    Components: ``self.backbone`` and ``self.projector``, each a
    :class:`spt.ema.TeacherStudent`; ``self.predictor`` (``(B, K) -> (B, K)``);
    ``self.byol_loss`` (``spt.losses.NegativeCosineSimilarity``). The teachers
    move after each step of their optimizer (:func:`spt.ema.attach_teacher_updates`).

    Returns:
        ``{"embedding": (V*B, D) student, "label", "loss"}``; the loss is the mean over
        ordered pairs of different views ``(i, j)`` of ``loss(predict(student_i), teacher_j)``.
    """
    method = "byol_forward"
    views = as_views(batch, method)
    backbone = _teacher_student(self, "backbone", method)
    images = [v["image"] for v in views]
    embeddings = encode_views(backbone, images)
    out = base_outputs(views, embeddings)
    if stage != "fit" and len(views) == 1:
        return out
    attach_ema(self, stage)
    projector = _teacher_student(self, "projector", method)
    predictor = component(self, "predictor", method)
    loss_fn = component(self, "byol_loss", method)
    predictions = encode_views(predictor, encode_views(projector, embeddings))
    with torch.no_grad():
        teacher = encode_views(
            projector.forward_teacher, encode_views(backbone.forward_teacher, images)
        )
    p = split_projections(predictions, views, method)
    t = split_projections(teacher, views, method)
    pairs = [(i, j) for i in range(len(p)) for j in range(len(t)) if i != j]
    out["loss"] = sum(loss_fn(p[i], t[j].detach()) for i, j in pairs) / len(pairs)
    return out
