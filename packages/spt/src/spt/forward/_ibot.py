"""iBOT (Zhou et al. 2022) and DINOv2 (Oquab et al. 2023): DINO plus masked patch distillation."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from spt._lightning import attached_trainer
from spt.ema import TeacherStudent
from spt.forward._byol import _teacher_student, attach_ema
from spt.forward._views import as_views, base_outputs, component, encode_views


def _global_masks(self: Any, views: list[dict[str, Any]], stage: str, method: str) -> Any:
    """``(G*B, N)`` bool masks of the global views (True = masked), or ``None``.

    From each view's ``"mask"`` when the data adds it (:class:`spt_data.masking.BlockMask` as
    a per-sample transform), else, in fit only, drawn by ``self.mask_generator`` on the
    images' device for each view independently.
    """
    present = ["mask" in v for v in views]
    if all(present):
        return torch.cat([torch.as_tensor(v["mask"]).bool() for v in views])
    if any(present):
        raise ValueError(
            f"{method}: only global views {[i for i, p in enumerate(present) if p]} of "
            f"{len(views)} carry a 'mask'; give every global view one, or none and set "
            "mask_generator"
        )
    generator = getattr(self, "mask_generator", None)
    if generator is None or stage != "fit":
        return None
    image = views[0]["image"]
    return torch.cat([generator.generate(image.shape[0], device=image.device) for _ in views])


def _koleo(self: Any, cls_tokens: Tensor, n_global: int) -> Tensor | None:
    """DINOv2's KoLeo term: the sum over global views of KoLeo on the student class tokens."""
    koleo = getattr(self, "koleo_loss", None)
    weight = float(getattr(self, "koleo_weight", 0.0))
    if koleo is None or weight == 0.0:
        return None
    terms = [koleo(chunk) for chunk in cls_tokens.chunk(n_global)]
    total: Tensor = weight * torch.stack(terms).sum()
    return total


def _masked_distillation(self: Any, batch: Any, stage: str, method: str) -> dict[str, Any]:
    views = as_views(batch, method)
    backbone = _teacher_student(self, "backbone", method)
    n_global = int(getattr(self, "n_global_views", 2))
    global_views = views[:n_global]
    x_global = torch.cat([v["image"] for v in global_views])  # (G*B, C, H, W)
    with torch.no_grad():
        teacher_tokens = backbone.forward_teacher(x_global, output="tokens")
    # the teacher's class token of the un-masked global views: what the papers evaluate
    out = base_outputs(global_views, list(teacher_tokens.cls_token.chunk(len(global_views))))
    masks = _global_masks(self, global_views, stage, method)
    if masks is None or len(views) < 2:
        if stage == "fit":
            raise ValueError(
                f"{method}: a training batch needs at least two views (the global crops "
                f"first; got {len(views)}) and masks: a 'mask' (B, N) in each global view or "
                "the module's mask_generator (spt.data.masking.BlockMask)"
            )
        return out
    attach_ema(self, stage)
    projector = _teacher_student(self, "projector", method)
    patch_projector = getattr(self, "patch_projector", None) or projector
    if not isinstance(patch_projector, TeacherStudent):
        raise TypeError(
            f"{method}: self.patch_projector must be spt.ema.TeacherStudent(head), got "
            f"{type(patch_projector).__name__}"
        )
    dino_loss = component(self, "dino_loss", method)
    ibot_loss = component(self, "ibot_loss", method)

    with torch.no_grad():
        teacher_cls = projector.forward_teacher(teacher_tokens.cls_token)  # (G*B, K)
        teacher_patches = patch_projector.forward_teacher(teacher_tokens.patch_tokens)
    student_tokens = backbone(x_global, masks, mask_mode="token", output="tokens")
    student_cls = projector(student_tokens.cls_token)  # (G*B, K)
    student_patches = patch_projector(student_tokens.patch_tokens)  # (G*B, N, K_patch)
    local_images = [v["image"] for v in views[n_global:]]
    local_cls = encode_views(lambda x: projector(backbone(x)), local_images) if local_images else []

    trainer = attached_trainer(self)
    epoch = trainer.current_epoch if trainer is not None else 0
    teacher_list = list(teacher_cls.chunk(n_global))
    cls_loss = dino_loss(list(student_cls.chunk(n_global)) + local_cls, teacher_list, epoch=epoch)
    patch_loss = ibot_loss(student_patches, teacher_patches, masks, epoch=epoch)
    loss = cls_loss + float(getattr(self, "ibot_weight", 1.0)) * patch_loss
    koleo = _koleo(self, student_tokens.cls_token, n_global)
    if koleo is not None:
        loss = loss + koleo
    out["loss"] = loss
    if stage == "fit":
        dino_loss.update_center(teacher_list)
        ibot_loss.update_center(teacher_patches)
    return out


def ibot_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """iBOT: DINO's class-token loss plus masked patch self-distillation from an EMA teacher.

    Components: ``self.backbone`` (a :class:`spt.ema.TeacherStudent` of a ViT with
    ``forward(images, mask, mask_mode="token", output="tokens")``, such as
    :class:`spt.backbone.VisionTransformer` with ``mask_token=True``), ``self.projector``
    (the class-token head) and optional ``self.patch_projector`` (the patch head; absent:
    the class-token head is shared, as in iBOT), both ``TeacherStudent``;
    ``self.dino_loss`` (``spt.losses.DINOLoss``), ``self.ibot_loss``
    (``spt.losses.IBOTPatchLoss``); ``self.ibot_weight`` (1.0); ``self.n_global_views``
    (2); optional ``self.mask_generator`` (:class:`spt_data.masking.BlockMask`) when the
    global views carry no ``"mask"``; optional ``self.koleo_loss`` with
    ``self.koleo_weight`` (DINOv2).

    The step (iBOT's Algorithm 1): the teacher embeds the un-masked global views (no
    gradient); the student embeds the global views with their masked patches replaced by
    the mask token, and the local views (class token only). The class-token loss pairs
    every teacher global view with every other student view; the patch loss matches, on
    the masked patches of each global view, the student's patch outputs to the teacher's
    outputs of the same view. Both centres move from this batch's teacher outputs; the
    teachers move after each optimizer step (:func:`spt.ema.attach_teacher_updates`).

    Returns:
        ``{"embedding": (G*B, D) the teacher's class tokens of the un-masked global views,
        "label", "loss"}``; ``loss = dino + ibot_weight * ibot (+ KoLeo)``, in fit and in
        other stages when the batch has two views and masks.

    Raises:
        ValueError: In fit, fewer than two views or no masks and no ``mask_generator``.
    """
    return _masked_distillation(self, batch, stage, "ibot_forward")


def dinov2_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """DINOv2: iBOT's step with separate heads, Sinkhorn-Knopp centring and KoLeo.

    The same step as :func:`ibot_forward` (read its components); ``spt.methods.dinov2``
    gives it a separate ``patch_projector``, losses with ``centering="sinkhorn_knopp"`` and
    ``self.koleo_loss`` (``spt.losses.KoLeoLoss``) with ``self.koleo_weight`` (0.1),
    applied to the student's backbone class tokens of each global view and summed.

    Returns:
        As :func:`ibot_forward`.
    """
    return _masked_distillation(self, batch, stage, "dinov2_forward")
