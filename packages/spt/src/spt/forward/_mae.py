"""MAE (He et al. 2022): reconstruct the pixels of randomly masked patches."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from spt.backbone.patches import patchify
from spt.forward._views import as_views, base_outputs, component


def random_keep(batch: int, num_patches: int, mask_ratio: float, device: torch.device) -> Tensor:
    """Kept patch indices of MAE's random masking, drawn independently per sample.

    Each sample shuffles its patches by sorting uniform noise (``torch.rand(B, N)`` from the
    global generator, one draw per call) and keeps the first ``int(N * (1 - mask_ratio))``.

    Returns:
        ``(B, K)`` long, in the shuffled order (the ``mask`` of
        :meth:`spt.backbone.VisionTransformer.forward_tokens` for ``mask_mode="drop"``).

    Raises:
        ValueError: If the ratio keeps no patch.
    """
    keep = int(num_patches * (1.0 - mask_ratio))
    if keep < 1:
        raise ValueError(
            f"mae_forward: mask_ratio={mask_ratio} keeps no patch of {num_patches}; "
            "lower mask_ratio"
        )
    noise = torch.rand(batch, num_patches, device=device)  # (B, N)
    return noise.argsort(dim=1)[:, :keep]


def mae_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """MAE: encode a random subset of the patches, decode all, loss on the masked ones.

    Components: ``self.backbone`` with ``forward_tokens(images, kept_idx)`` and
    ``patch_size`` (:class:`spt.backbone.VisionTransformer`), ``self.decoder``
    (:class:`spt.backbone.MAEDecoder`), ``self.mae_loss`` (``spt.losses.MAELoss``), optional
    ``self.mask_ratio`` (default 0.75). A list of views uses the first view. Each sample
    masks its own random patches (:func:`random_keep`, the only random draw of the step).

    Returns:
        ``{"embedding": (B, D) class token of the whole, un-masked image, "label", "loss"}``;
        in fit the embedding is computed without gradient (for the online probe and kNN,
        which must see the features evaluation sees, not those of a quarter of the image).
    """
    method = "mae_forward"
    view = as_views(batch, method)[0]
    backbone = component(self, "backbone", method)
    decoder = component(self, "decoder", method)
    loss_fn = component(self, "mae_loss", method)
    images = view["image"]
    target = patchify(images, backbone.patch_size)  # (B, N, patch_size**2 * C)
    B, N = target.shape[:2]
    kept_idx = random_keep(B, N, float(getattr(self, "mask_ratio", 0.75)), images.device)
    tokens = backbone.forward_tokens(images, kept_idx, mask_mode="drop")
    pred = decoder(tokens.cls_token, tokens.patch_tokens, kept_idx)  # (B, N, patch_dim)
    mask = torch.ones(B, N, device=images.device).scatter(1, kept_idx, 0.0)  # 1 = masked
    if stage == "fit":
        with torch.no_grad():
            embedding = backbone(images)
    else:
        embedding = backbone(images)
    out = base_outputs([view], [embedding])
    out["loss"] = loss_fn(pred, target, mask)
    return out
