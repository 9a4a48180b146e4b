"""I-JEPA (Assran et al. 2023): predict the target encoder's features of masked blocks."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from spt.forward._byol import _teacher_student, attach_ema
from spt.forward._views import as_views, base_outputs, component

MASK_KEYS = ("context_idx", "target_idx")


def _masks(self: Any, view: dict[str, Any], stage: str, device: torch.device) -> Any:
    """``(context_idx (B, K_ctx), target_idx (M, B, K_tgt))`` of the batch, or ``None``.

    From the batch when its collate function made them
    (:class:`spt_data.masking.MultiBlockMaskCollator`, the authors' way: drawn in the loader
    workers), else, in fit only, drawn here by ``self.mask_generator`` (a
    :class:`spt_data.masking.MultiBlockMask`) on the images' device, from the global RNG.
    """
    present = [key in view for key in MASK_KEYS]
    if all(present):
        return view["context_idx"], view["target_idx"]
    if any(present):
        raise ValueError(
            f"ijepa_forward: the batch has {[k for k in MASK_KEYS if k in view]} but not "
            f"{[k for k in MASK_KEYS if k not in view]}; the collate function must add both "
            "(spt.data.masking.MultiBlockMaskCollator does)"
        )
    generator = getattr(self, "mask_generator", None)
    if generator is None or stage != "fit":
        return None
    masks = generator.generate(view["image"].shape[0], device=device)
    return masks["context_idx"], masks["target_idx"]


def _select(tokens: Tensor, idx: Tensor) -> Tensor:
    """The rows of ``tokens`` (B, N, D) at the patch indices ``idx`` (M, B, K): (M, B, K, D)."""
    M, D = idx.shape[0], tokens.shape[-1]
    source = tokens.unsqueeze(0).expand(M, -1, -1, -1)  # (M, B, N, D), a view
    return torch.gather(source, 2, idx.unsqueeze(-1).expand(-1, -1, -1, D))


def ijepa_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """I-JEPA: from one context block, predict the target encoder's features of the targets.

    Components: ``self.backbone``, a :class:`spt.ema.TeacherStudent` of a ViT with
    ``forward(images, mask, output="tokens")`` (:class:`spt.backbone.VisionTransformer`):
    its student is the context encoder, its EMA teacher the target encoder;
    ``self.predictor`` (:class:`spt.backbone.IJEPAPredictor`); ``self.ijepa_loss``
    (``spt.losses.IJEPALoss``); optional ``self.mask_generator``
    (:class:`spt_data.masking.MultiBlockMask`) for batches that carry no masks. A list of
    views uses the first view.

    The step, as the paper's: the target encoder embeds the whole image (no gradient); the
    context encoder embeds the context patches only (``context_idx``, the others dropped);
    for each target block the predictor predicts, from the context tokens and the block's
    positions, the target encoder's patch tokens there, which the loss layer-normalises.
    The teacher moves after each optimizer step (:func:`spt.ema.attach_teacher_updates`).

    Returns:
        ``{"embedding": (B, D), "label", "loss"}``. The embedding is the mean of the target
        encoder's patch tokens of the whole image: the paper evaluates the target encoder's
        average-pooled output, and in fit those tokens are computed anyway for the targets.
        ``loss`` is there in fit, and in other stages when the batch carries masks.

    Raises:
        ValueError: In fit, when the batch has no masks and the module no
            ``mask_generator``.
    """
    method = "ijepa_forward"
    view = as_views(batch, method)[0]
    backbone = _teacher_student(self, "backbone", method)
    images = view["image"]
    full = backbone.forward_teacher(images, output="tokens")  # whole image, no gradient
    out = base_outputs([view], [full.patch_tokens.mean(dim=1)])
    masks = _masks(self, view, stage, images.device)
    if masks is None:
        if stage == "fit":
            raise ValueError(
                f"{method}: the training batch has no 'context_idx' / 'target_idx' and the "
                "module no mask_generator; collate with spt.data.masking."
                "MultiBlockMaskCollator or pass mask_generator=MultiBlockMask(grid_size)"
            )
        return out
    context_idx, target_idx = masks
    attach_ema(self, stage)
    predictor = component(self, "predictor", method)
    loss_fn = component(self, "ijepa_loss", method)
    context = backbone(images, context_idx, mask_mode="drop", output="tokens")
    predictions = predictor(context.patch_tokens, context_idx, target_idx)  # (M, B, K, D)
    targets = _select(full.patch_tokens, target_idx)  # (M, B, K, D), normalised by the loss
    out["loss"] = loss_fn(predictions, targets)
    return out
