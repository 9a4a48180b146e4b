"""LeJEPA (Balestriero and LeCun 2025): every view predicts the global views' mean, plus SIGReg."""

from __future__ import annotations

from typing import Any

from spt._lightning import attached_trainer
from spt.forward._views import as_views, base_outputs, component, encode_views


def lejepa_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """LeJEPA: one encoder and projector, no teacher, no stop-gradient.

    Components: ``self.backbone`` (images ``(B, C, H, W)`` -> ``(B, D)``, a ViT or a CNN),
    ``self.projector`` (``(B, D) -> (B, K)``, the paper's MLP with batch norm) and
    ``self.lejepa_loss`` (``spt.losses.LeJEPALoss``). The first ``self.n_global_views``
    views (default 2) are global; further (local, possibly smaller) views are predicted
    too but do not enter the mean they predict. Views of one resolution go through the
    backbone in one call; every view goes through the projector in one call (its batch norm
    sees the whole multi-view batch, as the authors' code).

    SIGReg's random directions are those of the Trainer's ``global_step`` in fit (the same
    on every rank, new at each optimizer step); outside a fit the loss counts its calls.

    Returns:
        ``{"embedding": (G*B, D) backbone features of the G global views, "label", "loss"}``
        (local crops are left out of ``embedding``: the callbacks compare it with full-size
        validation images). With a single view outside fit, no ``loss``.

    Raises:
        ValueError: In fit, when the batch holds fewer than two views.
    """
    method = "lejepa_forward"
    views = as_views(batch, method)
    backbone = component(self, "backbone", method)
    images = [v["image"] for v in views]
    embeddings = encode_views(backbone, images)
    n_global = int(getattr(self, "n_global_views", 2))
    out = base_outputs(views[:n_global], embeddings[:n_global])
    if len(views) < 2:
        if stage == "fit":
            raise ValueError(
                f"{method}: needs at least two views per sample in fit; use "
                "MultiViewTransform or MultiCropTransform (global views first)"
            )
        return out
    projector = component(self, "projector", method)
    loss_fn = component(self, "lejepa_loss", method)
    projections = encode_views(projector, embeddings)  # V tensors (B, K)
    trainer = attached_trainer(self)
    step = trainer.global_step if stage == "fit" and trainer is not None else None
    out["loss"] = loss_fn(projections, n_global_views=n_global, step=step)
    return out
