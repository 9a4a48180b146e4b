"""NNCLR (Dwibedi et al. 2021): the nearest neighbour in a support set is the positive."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from spt.forward._moco import require
from spt.forward._views import as_views, base_outputs, encode_views, split_projections
from spt_losses import MemoryBank, nearest_neighbours

__all__ = ["nnclr_forward"]

_METHOD = "nnclr_forward"
_BUILDER = "spt.methods.nnclr(backbone, embed_dim)"


def nnclr_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """NNCLR: InfoNCE between the support-set neighbour of one view and the prediction of another.

    Components (:func:`spt.methods.nnclr` builds them): ``self.backbone``,
    ``self.projector`` (``(B, D) -> (B, d)``), ``self.predictor`` (``(B, d) -> (B, d)``),
    ``self.support_set`` (a :class:`spt.losses.MemoryBank` of ``(Q, d)`` projections) and
    ``self.nnclr_loss`` (:class:`spt.losses.NNCLRLoss`).

    With ``z = projector(backbone(x))`` and ``p = predictor(z)`` for each of the two views,
    the loss is ``(loss(NN(z1), p2) + loss(NN(z2), p1)) / 2``, ``NN`` the cosine nearest
    neighbour in the support set (no gradient), as in the paper. While the support set is
    still empty (the first step of a run) each projection is its own neighbour. After the
    loss, in fit only, view 1's L2-normalised projections are enqueued (first in, first out;
    gathered from every rank).

    Batch: a list of two view dicts with ``"image"`` (and ``"label"``), or one dict whose
    two views share ``"sample_idx"``; a single-view batch outside fit gives no loss.

    Returns:
        ``{"embedding": (V*B, D) backbone features, "label", "loss": scalar}``.
    """
    views = as_views(batch, _METHOD)
    backbone = require(self, "backbone", _METHOD, _BUILDER, "an encoder (B, C, H, W) -> (B, D)")
    embeddings = encode_views(backbone, [v["image"] for v in views])
    out = base_outputs(views, embeddings)
    if stage != "fit" and len(views) == 1:
        return out  # single-view evaluation batch: embedding and label only
    projector = require(self, "projector", _METHOD, _BUILDER, "spt.backbone.MLP(D, [2048], d)")
    predictor = require(self, "predictor", _METHOD, _BUILDER, "spt.backbone.MLP(d, [4096], d)")
    support: MemoryBank = require(
        self, "support_set", _METHOD, _BUILDER, "spt.losses.MemoryBank(98304, d)", MemoryBank
    )
    loss_fn = require(self, "nnclr_loss", _METHOD, _BUILDER, "spt.losses.NNCLRLoss()")
    z = split_projections(encode_views(projector, embeddings), views, _METHOD)
    if len(z) != 2:
        raise ValueError(
            f"{_METHOD}: the loss takes exactly two views of each sample, got {len(z)}; "
            "use MultiViewTransform(n_views=2)"
        )
    p = encode_views(predictor, z)
    if support.num_filled > 0:
        items = support.contents()  # (Q, d), the same on every rank
        neighbours = [nearest_neighbours(zi, items) for zi in z]
    else:
        neighbours = [zi.detach() for zi in z]
    out["loss"] = (loss_fn(neighbours[0], p[1]) + loss_fn(neighbours[1], p[0])) / 2
    if stage == "fit":  # after the loss: a projection is never its own neighbour
        with torch.no_grad():
            support.enqueue(F.normalize(z[0], dim=1))
    return out
