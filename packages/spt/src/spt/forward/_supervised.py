"""Supervised classification as a forward function."""

from __future__ import annotations

from typing import Any

import torch

from spt.forward._views import as_views, component


def supervised_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """Cross-entropy (or any ``loss(logits, label)``) on ``"label"``.

    Components: ``self.backbone`` (images -> logits, e.g. a ResNet with ``fc = nn.Linear(512,
    10)``), or ``self.backbone`` (images -> features) followed by ``self.classifier``
    (features -> logits); ``self.supervised_loss`` (e.g. ``nn.CrossEntropyLoss()``). A list of
    views is concatenated.

    Returns:
        ``{"embedding": features (or logits without a classifier), "logits", "label", "loss"}``;
        ``loss`` only when the batch has ``"label"``.
    """
    method = "supervised_forward"
    views = as_views(batch, method)
    backbone = component(self, "backbone", method)
    images = torch.cat([v["image"] for v in views]) if len(views) > 1 else views[0]["image"]
    embedding = backbone(images)
    classifier = getattr(self, "classifier", None)
    logits = classifier(embedding) if classifier is not None else embedding
    out: dict[str, Any] = {"embedding": embedding, "logits": logits}
    if all("label" in v for v in views):
        labels = [torch.as_tensor(v["label"]) for v in views]
        out["label"] = torch.cat(labels) if len(labels) > 1 else labels[0]
        out["loss"] = component(self, "supervised_loss", method)(logits, out["label"])
    elif stage == "fit":
        raise ValueError(f"{method}: the training batch has no 'label'; keys: {sorted(views[0])}")
    return out
