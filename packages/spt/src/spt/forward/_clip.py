"""CLIP (Radford et al. 2021): contrastive pretraining of an image and a text encoder."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from spt.forward._views import as_views, base_outputs, component


def clip_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """CLIP: matching images and captions are close in a joint embedding space.

    Components: ``self.backbone`` (images -> features), ``self.projector`` (features -> joint
    space, the paper's linear ``W_i``), ``self.text_backbone`` (token ids -> features, e.g.
    :class:`spt.backbone.TextTransformer`), ``self.text_projector`` (``W_t``) and
    ``self.clip_loss`` (``spt.losses.CLIPLoss``, which holds the learned temperature). The
    batch is one dict with ``"image"`` ``(B, C, H, W)`` and, for the loss, ``"text"``
    ``(B, L)`` token ids of each image's caption (``spt.data.CaptionFromLabel`` makes them
    from labels). Without ``"text"`` (validation on a labelled image set) only the image
    side runs.

    Returns:
        ``{"embedding": (B, D) image backbone features (what the probes, kNN and RankMe
        watch), "image_embedding": (B, E) unit image embeddings in the joint space (what
        :class:`spt.callbacks.ZeroShotClassifier` reads), "label"}``; with ``"text"`` also
        ``"text_embedding"`` (B, E) and ``"loss"``.

    Raises:
        ValueError: a batch of several views, or a training batch without ``"text"``.
    """
    method = "clip_forward"
    views = as_views(batch, method)
    if len(views) != 1:
        raise ValueError(
            f"{method}: a batch of {len(views)} views; CLIP trains on one view per image "
            "and its caption (use a plain transform, not MultiViewTransform)"
        )
    view = views[0]
    backbone = component(self, "backbone", method)
    projector = component(self, "projector", method)
    embedding = backbone(view["image"])  # (B, D)
    out = base_outputs(views, [embedding])
    out["image_embedding"] = F.normalize(projector(embedding), dim=-1)  # (B, E)
    if "text" not in view:
        if stage == "fit":
            raise ValueError(
                f"{method}: the training batch has no 'text' (token ids of the captions); "
                f"keys: {sorted(view)}. Add them with spt.data.CaptionFromLabel(tokenizer)"
            )
        return out
    text_backbone = component(self, "text_backbone", method)
    text_projector = component(self, "text_projector", method)
    text = F.normalize(text_projector(text_backbone(view["text"])), dim=-1)  # (B, E)
    out["text_embedding"] = text
    out["loss"] = component(self, "clip_loss", method)(out["image_embedding"], text)
    return out
