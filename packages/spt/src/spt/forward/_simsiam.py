"""SimSiam (Chen and He 2021): a predictor and a stop-gradient, no negatives, no momentum."""

from __future__ import annotations

from typing import Any

import torch

from spt.forward._views import as_views, base_outputs, component, split_projections

_METHOD = "simsiam_forward"
_BUILDER = "spt.methods.simsiam(backbone, embed_dim)"


def _component(self: Any, name: str) -> Any:
    try:
        return component(self, name, _METHOD)
    except AttributeError as error:
        raise AttributeError(f"{error}, or build the module with {_BUILDER}") from None


def simsiam_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """SimSiam: ``D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2``, D the negative cosine.

    As in the paper's pseudo-code, each view goes through the encoder on its own
    (``z1, z2 = f(x1), f(x2)``), so batch-norm statistics are those of one view.

    Components: ``self.backbone`` (images ``(B, C, H, W)`` -> ``(B, D)``), ``self.projector``
    (``(B, D)`` -> ``(B, K)``, the paper's 3-layer MLP with batch norm on its output),
    ``self.predictor`` (``(B, K)`` -> ``(B, K)``, the bottleneck MLP) and
    ``self.simsiam_loss`` (``spt.losses.NegativeCosineSimilarity``);
    :func:`spt.methods.simsiam` builds them. More than two views: the mean over ordered pairs
    of different views ``(i, j)`` of ``D(p_i, stopgrad(z_j))``. A single-view batch outside
    fit gives no loss.

    Returns:
        ``{"embedding": (V*B, D), "label": (V*B,), "loss": scalar}``.
    """
    views = as_views(batch, _METHOD)
    backbone = _component(self, "backbone")
    embeddings = [backbone(v["image"]) for v in views]
    out = base_outputs(views, embeddings)
    if stage != "fit" and len(views) == 1:
        return out  # single-view evaluation batch: embedding and label only
    projector = _component(self, "projector")
    predictor = _component(self, "predictor")
    loss_fn = _component(self, "simsiam_loss")
    if len(views) == 1:  # one dict whose views share sample_idx: fold after the projector
        projections = [projector(embeddings[0])]
    else:
        projections = [projector(e) for e in embeddings]
    z = split_projections(projections, views, _METHOD)
    p = [predictor(zi) for zi in z]
    pairs = [(i, j) for i in range(len(z)) for j in range(len(z)) if i != j]
    loss: torch.Tensor = sum(loss_fn(p[i], z[j].detach()) for i, j in pairs) / len(pairs)
    out["loss"] = loss
    return out
