"""SimCLR, VICReg and Barlow Twins: two encoded views, a projector, a loss between projections."""

from __future__ import annotations

from typing import Any

from spt.forward._views import (
    as_views,
    base_outputs,
    component,
    encode_views,
    split_projections,
)


def _joint_embedding(
    self: Any, batch: Any, stage: str, loss_name: str, method: str, pairwise: bool
) -> dict[str, Any]:
    views = as_views(batch, method)
    backbone = component(self, "backbone", method)
    embeddings = encode_views(backbone, [v["image"] for v in views])
    out = base_outputs(views, embeddings)
    if stage != "fit" and len(views) == 1:
        return out  # single-view evaluation batch: embedding and label only
    projector = component(self, "projector", method)
    projections = encode_views(projector, embeddings)
    z = split_projections(projections, views, method)
    loss_fn = component(self, loss_name, method)
    if pairwise:  # losses of two views: average over all pairs
        pairs = [(i, j) for i in range(len(z)) for j in range(i + 1, len(z))]
        out["loss"] = sum(loss_fn(z[i], z[j]) for i, j in pairs) / len(pairs)
    else:
        out["loss"] = loss_fn(*z)
    return out


def simclr_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """SimCLR (Chen et al. 2020): NT-Xent between the projections of the views.

    Components: ``self.backbone`` (images ``(B, C, H, W)`` -> ``(B, D)``), ``self.projector``
    (``(B, D)`` -> ``(B, K)``), ``self.simclr_loss`` (e.g. ``spt.losses.NTXEntLoss``).
    Batch: a list of view dicts with ``"image"`` (and ``"label"``), or one dict whose views
    share ``"sample_idx"``; a single-view batch outside fit gives no loss.

    Returns:
        ``{"embedding": (V*B, D), "label": (V*B,), "loss": scalar}``.
    """
    return _joint_embedding(self, batch, stage, "simclr_loss", "simclr_forward", pairwise=False)


def vicreg_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """VICReg (Bardes et al. 2022): variance, invariance, covariance between two projections.

    Components: ``self.backbone``, ``self.projector``, ``self.vicreg_loss``
    (``spt.losses.VICRegLoss``). More than two views: the mean of the loss over all pairs.

    Returns:
        ``{"embedding", "label", "loss"}`` as :func:`simclr_forward`.
    """
    return _joint_embedding(self, batch, stage, "vicreg_loss", "vicreg_forward", pairwise=True)


def barlow_twins_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """Barlow Twins (Zbontar et al. 2021): the cross-correlation of two projections to identity.

    Components: ``self.backbone``, ``self.projector``, ``self.barlow_twins_loss``
    (``spt.losses.BarlowTwinsLoss``). More than two views: the mean over all pairs.

    Returns:
        ``{"embedding", "label", "loss"}`` as :func:`simclr_forward`.
    """
    return _joint_embedding(
        self, batch, stage, "barlow_twins_loss", "barlow_twins_forward", pairwise=True
    )
