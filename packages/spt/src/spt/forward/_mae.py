"""MAE (He et al. 2022): reconstruct the pixels of randomly masked patches."""

from __future__ import annotations

from typing import Any

from spt.backbone.vit import patchify
from spt.forward._views import as_views, base_outputs, component


def mae_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """MAE: encode the kept patches, decode all, loss on the masked ones.

    Components: ``self.backbone`` with ``encode(images, mask_ratio) -> (tokens, mask,
    ids_restore)`` and ``patch_size`` (:class:`spt.backbone.VisionTransformer`),
    ``self.decoder`` (:class:`spt.backbone.MAEDecoder`), ``self.mae_loss``
    (``spt.losses.MAELoss``), optional ``self.mask_ratio`` (default 0.75). A list of views
    uses the first view.

    Returns:
        In fit: ``{"embedding": (B, D) class token of the masked image, "label", "loss"}``;
        otherwise the class token of the whole image, and the loss as well.
    """
    method = "mae_forward"
    view = as_views(batch, method)[0]
    backbone = component(self, "backbone", method)
    images = view["image"]
    mask_ratio = float(getattr(self, "mask_ratio", 0.75))
    tokens, mask, ids_restore = backbone.encode(images, mask_ratio)
    if stage == "fit":
        out = base_outputs([view], [tokens[:, 0]])
    else:
        out = base_outputs([view], [backbone(images)])
    decoder = component(self, "decoder", method)
    loss_fn = component(self, "mae_loss", method)
    pred = decoder(tokens, ids_restore)  # (B, N, patch_size**2 * C)
    out["loss"] = loss_fn(pred, patchify(images, backbone.patch_size), mask)
    return out
