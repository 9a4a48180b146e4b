"""SwAV (Caron et al. 2020): swapped prediction of Sinkhorn codes over multiple crops."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from spt._lightning import attached_trainer
from spt.forward._views import as_views, base_outputs, encode_views, split_projections
from spt_losses import MemoryBank, Prototypes

__all__ = ["attach_prototype_updates", "swav_forward"]

_METHOD = "swav_forward"
_BUILDER = "spt.methods.swav(backbone, embed_dim)"
_HINTS = {
    "prototypes": "spt.losses.Prototypes(dim, num_prototypes)",
    "swav_loss": "spt.losses.SwAVLoss()",
}


def _component(self: Any, name: str) -> Any:
    value = getattr(self, name, None)
    if value is None:
        hint = _HINTS.get(name, "...")
        raise AttributeError(
            f"{_METHOD}: the module has no {name!r}; pass spt.Module({name}={hint}) or build "
            f"it with {_BUILDER}"
        )
    return value


def attach_prototype_updates(module: Any) -> Prototypes:
    """Make ``module.prototypes`` follow the optimizer that holds its weight.

    After every step of that optimizer the prototypes are L2-normalised, and for the first
    ``freeze_iterations`` steps their gradient is dropped (:meth:`Prototypes.follow`).
    Idempotent; ``swav_forward`` calls it at every training step.

    Raises:
        TypeError: ``module.prototypes`` is not a :class:`spt.losses.Prototypes`.
        ValueError: no optimizer of the module holds the prototypes' weight.
    """
    prototypes = _component(module, "prototypes")
    if not isinstance(prototypes, Prototypes):
        raise TypeError(
            f"{_METHOD}: self.prototypes must be spt.losses.Prototypes (normalised and frozen "
            f"for the first steps), got {type(prototypes).__name__}"
        )
    optimizers = module.optimizers(use_pl_optimizer=False)
    if not isinstance(optimizers, list):
        optimizers = [optimizers]
    if prototypes.followed is not None and any(prototypes.followed is o for o in optimizers):
        return prototypes
    holders = [
        o
        for o in optimizers
        if any(p is prototypes.weight for g in o.param_groups for p in g["params"])
    ]
    if not holders:
        raise ValueError(
            f"{_METHOD}: no optimizer holds prototypes.weight, so the prototypes would never be "
            "normalised or trained; route the 'prototypes' module to an optimizer"
        )
    prototypes.follow(holders[0])
    return prototypes


def _epoch(self: Any) -> int:
    trainer = attached_trainer(self)
    return int(trainer.current_epoch) if trainer is not None else 0


def swav_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """SwAV: the codes of each global crop are predicted from every other crop.

    Components (:func:`spt.methods.swav` builds them): ``self.backbone`` (images of any
    crop size ``(B, C, H, W)`` -> ``(B, D)``), ``self.projector`` (``(B, D)`` -> ``(B, d)``,
    run once on all crops together, as in the paper; its output is L2-normalised),
    ``self.prototypes`` (:class:`spt.losses.Prototypes`, ``(B, d)`` -> ``(B, K)``) and
    ``self.swav_loss`` (:class:`spt.losses.SwAVLoss`). Optional: ``self.n_global_views``
    (default 2: the first views are the global crops, any further ones local crops, possibly
    smaller), ``self.queue`` (a :class:`spt.losses.MemoryBank` of items
    ``(n_global_views, d)``) and ``self.epoch_queue_starts`` (default 0).

    In fit, the prototypes follow their optimizer (:func:`attach_prototype_updates`:
    normalised after each step, frozen for the first steps). From epoch
    ``epoch_queue_starts`` on, the global crops' projections are enqueued after the loss;
    once the queue is full, its scores join the Sinkhorn normalisation of each global crop
    (only the current batch's codes are used).

    Batch: a list of view dicts with ``"image"`` (and ``"label"``), or one dict whose views
    share ``"sample_idx"`` (all global); a single-view batch outside fit gives no loss.

    Returns:
        ``{"embedding": (n_global*B, D) backbone features of the global crops, "label",
        "loss": scalar}``.
    """
    views = as_views(batch, _METHOD)
    backbone = _component(self, "backbone")
    n_global = int(getattr(self, "n_global_views", 2))
    embeddings = encode_views(backbone, [v["image"] for v in views])
    out = base_outputs(views[:n_global], embeddings[:n_global])
    if stage != "fit" and len(views) == 1:
        return out  # single-view evaluation batch: embedding and label only
    projector = _component(self, "projector")
    prototypes = _component(self, "prototypes")
    loss_fn = _component(self, "swav_loss")
    if stage == "fit" and attached_trainer(self) is not None:
        attach_prototype_updates(self)
    projections = split_projections(encode_views(projector, embeddings), views, _METHOD)
    z = F.normalize(torch.cat(projections), dim=1)  # (V*B, d)
    scores = list(prototypes(z).chunk(len(projections)))  # V x (B, K)
    z_global = torch.stack(z.chunk(len(projections))[:n_global], dim=1)  # (B, n_global, d)
    queue: MemoryBank | None = getattr(self, "queue", None)
    if queue is not None and stage == "fit":  # paper: the queue holds whole global batches
        trainer = attached_trainer(self)
        queue.check_global_batch(z_global.shape[0] * (trainer.world_size if trainer else 1))
    if queue is not None and not (
        stage == "fit" and _epoch(self) >= int(getattr(self, "epoch_queue_starts", 0))
    ):
        queue = None  # filled and read in fit only, from epoch_queue_starts on
    queue_scores = None
    if queue is not None and queue.full:
        with torch.no_grad():
            items = queue.contents()  # (L, n_global, d), the same on every rank
            queue_scores = [prototypes(items[:, i]) for i in range(n_global)]
    out["loss"] = loss_fn(scores, queue_scores=queue_scores, n_global_views=n_global)
    if queue is not None:
        queue.enqueue(z_global)
    return out
