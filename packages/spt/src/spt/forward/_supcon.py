"""SupCon (Khosla et al. 2020): contrastive learning whose positives are the same class."""

from __future__ import annotations

from typing import Any

import torch

from spt.forward._views import (
    as_views,
    base_outputs,
    component,
    encode_views,
    split_projections,
)

_METHOD = "supcon_forward"
_BUILDER = "spt.methods.supcon(backbone, embed_dim)"


def _component(self: Any, name: str) -> Any:
    try:
        return component(self, name, _METHOD)
    except AttributeError as error:
        raise AttributeError(f"{error}, or build the module with {_BUILDER}") from None


def _labels(views: list[dict[str, Any]], n_views: int) -> torch.Tensor:
    """The ``(B,)`` class of each sample: the first view's ``label`` (or its first fold)."""
    missing = [i for i, v in enumerate(views) if "label" not in v]
    if missing:
        raise ValueError(
            f"{_METHOD}: the training batch has no 'label' (view {missing[0]} has keys "
            f"{sorted(views[missing[0]])}); SupCon needs the class of each sample: use a "
            "dataset whose samples carry 'label', e.g. spt.data.FromTorchDataset(ds, "
            "names=['image', 'label']) or spt.data.digits"
        )
    label = torch.as_tensor(views[0]["label"])
    if len(views) == 1 and n_views > 1:  # one dict: the labels fold like the projections
        from spt_data import fold_views

        label = fold_views(label, views[0]["sample_idx"])[0]
    return label


def supcon_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """SupCon: every other view of a sample of the same class is a positive.

    Components: ``self.backbone`` (images ``(B, C, H, W)`` -> ``(B, D)``), ``self.projector``
    (``(B, D)`` -> ``(B, K)``) and ``self.supcon_loss`` (``spt.losses.SupConLoss``);
    :func:`spt.methods.supcon` builds them. Batch: a list of view dicts with ``"image"``
    and ``"label"`` (the class of each sample, required in fit), or one dict whose views
    share ``"sample_idx"``. The views are encoded together (one batch-norm batch), as in
    the paper's code; a single-view batch outside fit gives no loss.

    Returns:
        ``{"embedding": (V*B, D), "label": (V*B,), "loss": scalar}``.

    Raises:
        ValueError: a training batch without ``"label"``.
    """
    views = as_views(batch, _METHOD)
    if stage == "fit":
        _labels(views, 1)  # fail before any compute when the labels are missing
    backbone = _component(self, "backbone")
    embeddings = encode_views(backbone, [v["image"] for v in views])
    out = base_outputs(views, embeddings)
    if stage != "fit" and (len(views) == 1 or not all("label" in v for v in views)):
        return out  # evaluation batch of one view, or without labels: no loss
    projector = _component(self, "projector")
    loss_fn = _component(self, "supcon_loss")
    z = split_projections(encode_views(projector, embeddings), views, _METHOD)
    out["loss"] = loss_fn(*z, labels=_labels(views, len(z)))
    return out
