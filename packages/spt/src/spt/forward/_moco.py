"""MoCo v2 (Chen et al. 2020) and MoCo v3 (Chen, Xie, He 2021): momentum-encoder contrast."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from spt._lightning import attached_trainer
from spt.ema import TeacherStudent
from spt.forward._byol import attach_ema
from spt.forward._views import as_views, base_outputs, encode_views, split_projections
from spt_losses import MemoryBank

__all__ = ["moco_v2_forward", "moco_v3_forward", "require"]


def require(
    self: Any, name: str, method: str, builder: str, hint: str, kind: type | None = None
) -> Any:
    """``getattr(self, name)``, or an error naming the component, its kind and the builder."""
    value = getattr(self, name, None)
    if value is None:
        raise AttributeError(
            f"{method}: the module has no {name!r}; pass spt.Module({name}={hint}) or build "
            f"it with {builder}"
        )
    if kind is not None and not isinstance(value, kind):
        raise TypeError(
            f"{method}: self.{name} must be {hint}, got {type(value).__name__}; build the "
            f"module with {builder}"
        )
    return value


def _momentum_pair(self: Any, name: str, method: str, builder: str) -> TeacherStudent:
    hint = f"spt.ema.TeacherStudent({name}) (its teacher is the momentum encoder)"
    pair: TeacherStudent = require(self, name, method, builder, hint, TeacherStudent)
    return pair


def _two_views(views: list[Any], method: str) -> None:
    if len(views) != 2:
        raise ValueError(
            f"{method}: the loss takes exactly two views of each sample, got {len(views)}; "
            "use MultiViewTransform(n_views=2)"
        )


def _encode(
    self: Any, views: list[dict[str, Any]], stage: str, method: str, builder: str
) -> tuple[dict[str, Any], list[torch.Tensor] | None, list[torch.Tensor] | None]:
    """Backbone outputs; in a multi-view step also the projections and the momentum keys."""
    backbone = _momentum_pair(self, "backbone", method, builder)
    images = [v["image"] for v in views]
    embeddings = encode_views(backbone, images)
    out = base_outputs(views, embeddings)
    if stage != "fit" and len(views) == 1:
        return out, None, None  # single-view evaluation batch: embedding and label only
    attach_ema(self, stage)
    projector = _momentum_pair(self, "projector", method, builder)
    projections = split_projections(encode_views(projector, embeddings), views, method)
    _two_views(projections, method)
    with torch.no_grad():
        keys = encode_views(
            projector.forward_teacher, encode_views(backbone.forward_teacher, images)
        )
    keys = [F.normalize(k, dim=1) for k in split_projections(keys, views, method)]
    return out, projections, keys


_V2 = "moco_v2_forward"
_V2_BUILDER = "spt.methods.moco_v2(backbone, embed_dim)"


def _check_queue(queue: MemoryBank, local_batch: int, stage: str, trainer_world: int) -> None:
    if stage != "fit" or not queue.require_batch_multiple or queue.batch_checked:
        return
    try:
        queue.check_global_batch(local_batch * trainer_world)
    except ValueError as err:
        raise ValueError(f"{_V2}: self.queue: {err}") from None


def moco_v2_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """MoCo v2: InfoNCE of each query against its key and a queue of past keys.

    Components (:func:`spt.methods.moco_v2` builds them): ``self.backbone`` and
    ``self.projector``, each a :class:`spt.ema.TeacherStudent` (the teachers are the momentum
    encoder; they move after each optimizer step), ``self.queue`` (a
    :class:`spt.losses.MemoryBank` of ``(K, d)`` keys) and ``self.moco_v2_loss``
    (:class:`spt.losses.MoCoV2Loss`). Optional ``self.symmetric`` (default False).

    The query of view 1 is contrasted with the momentum key of view 2 and with the queue,
    as in the paper (asymmetric). With ``symmetric=True`` the loss is the mean of both
    directions. The keys (L2-normalised, view 2's, then view 1's when symmetric) are
    enqueued after the loss, in fit only; the queue gathers them from every rank. When the
    queue requires it, its size is checked against the global batch at the first step.

    Batch: a list of two view dicts with ``"image"`` (and ``"label"``), or one dict whose
    two views share ``"sample_idx"``; a single-view batch outside fit gives no loss.

    Returns:
        ``{"embedding": (V*B, D) backbone features, "label", "loss": scalar}``.
    """
    views = as_views(batch, _V2)
    out, queries, keys = _encode(self, views, stage, _V2, _V2_BUILDER)
    if queries is None or keys is None:
        return out
    queue: MemoryBank = require(
        self,
        "queue",
        _V2,
        _V2_BUILDER,
        "spt.losses.MemoryBank(65536, proj_dim, init='random', require_batch_multiple=True)",
        MemoryBank,
    )
    loss_fn = require(self, "moco_v2_loss", _V2, _V2_BUILDER, "spt.losses.MoCoV2Loss()")
    trainer = attached_trainer(self)
    symmetric = bool(getattr(self, "symmetric", False))
    _check_queue(
        queue,
        queries[0].shape[0] * (2 if symmetric else 1),
        stage,
        int(trainer.world_size) if trainer is not None else 1,
    )
    negatives = queue.contents()  # (K, d), the same on every rank
    if symmetric:
        out["loss"] = (
            loss_fn(queries[0], keys[1], negatives) + loss_fn(queries[1], keys[0], negatives)
        ) / 2
    else:
        out["loss"] = loss_fn(queries[0], keys[1], negatives)
    if stage == "fit":  # after the loss: the current keys are never their own negatives
        queue.enqueue(keys[1])
        if symmetric:
            queue.enqueue(keys[0])
    return out


_V3 = "moco_v3_forward"
_V3_BUILDER = "spt.methods.moco_v3(backbone, embed_dim)"


def moco_v3_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """MoCo v3: symmetric InfoNCE between predictions and momentum keys of the global batch.

    Components (:func:`spt.methods.moco_v3` builds them): ``self.backbone`` and
    ``self.projector``, each a :class:`spt.ema.TeacherStudent` (the momentum encoder, with
    the cosine momentum schedule), ``self.predictor`` (``(B, d) -> (B, d)``) and
    ``self.moco_v3_loss`` (:class:`spt.losses.MoCoV3Loss`). No queue: the negatives are the
    keys of the whole global batch (gathered across ranks by the loss).

    The loss is ``loss(q1, k2) + loss(q2, k1)`` with ``q = predictor(projector(backbone(x)))``
    and ``k`` the momentum encoder's projection, as in the paper's pseudo-code.

    Batch: as :func:`moco_v2_forward`.

    Returns:
        ``{"embedding": (V*B, D) backbone features, "label", "loss": scalar}``.
    """
    views = as_views(batch, _V3)
    out, projections, keys = _encode(self, views, stage, _V3, _V3_BUILDER)
    if projections is None or keys is None:
        return out
    predictor = require(self, "predictor", _V3, _V3_BUILDER, "spt.backbone.MLP(d, [4096], d)")
    loss_fn = require(self, "moco_v3_loss", _V3, _V3_BUILDER, "spt.losses.MoCoV3Loss()")
    q = encode_views(predictor, projections)
    out["loss"] = loss_fn(q[0], keys[1]) + loss_fn(q[1], keys[0])
    return out
