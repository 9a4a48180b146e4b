"""Image retrieval on the validation set: mAP@k and recall@k, each sample against the rest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from typing_extensions import override

from spt_callbacks._metrics import log_metrics
from spt_callbacks._outputs import check_rows, read_key
from spt_callbacks._state import NamedCallback
from spt_callbacks.queue import RingQueue

__all__ = ["Retrieval", "retrieval_metrics"]


def _check_ks(owner: str, k: int | Sequence[int]) -> tuple[int, ...]:
    ks = (k,) if isinstance(k, int) else tuple(k)
    if not ks or any(not isinstance(v, int) or v < 1 for v in ks):
        raise ValueError(f"{owner}: k must be a positive int or a list of them, got {k!r}")
    return tuple(sorted(set(ks)))


def retrieval_metrics(
    embeddings: Tensor | Sequence[Tensor],
    labels: Tensor | Sequence[Tensor],
    k: int | Sequence[int] = (1, 5, 10),
    max_elements: int = 2**22,
) -> dict[str, Tensor]:
    """Leave-one-out retrieval: every row a query, every other row its gallery.

    The gallery of query ``q`` is ranked by cosine similarity to ``q``; a gallery row is
    relevant when its label equals ``q``'s. With ``rel_i`` the relevance of the ``i``-th
    ranked row and ``R_q`` the number of relevant rows in ``q``'s gallery:

    - ``AP@k(q) = sum_{i<=k} rel_i * precision@i / min(k, R_q)``, ``map@k`` its mean;
    - ``recall@k`` the fraction of queries with a relevant row among the first ``k`` (the
      Recall@K of deep metric learning, e.g. Song et al. 2016).

    Queries whose label no other row has (``R_q = 0``) are left out of both. ``k`` larger
    than the gallery is clipped to it. Computed in the embeddings' precision promoted to at
    least float32, with at most ``max_elements`` similarities held at once.

    Args:
        embeddings: ``(N, D)`` embeddings, or row segments that concatenate to them.
        labels: ``(N,)`` integer labels (same segments).
        k: One cut-off or several.
        max_elements: Bound on the number of similarities held at once.

    Returns:
        ``{"map@k": ..., "recall@k": ...}`` for each ``k``, 0-dim float32 tensors; empty
        when no query has a relevant row.

    Raises:
        ValueError: If the rows and labels differ in number or ``k`` is not positive.

    Examples:
        >>> z = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> metrics = retrieval_metrics(z, torch.tensor([0, 0, 1, 1]), k=1)
        >>> float(metrics["map@1"]), float(metrics["recall@1"])
        (1.0, 1.0)
    """
    ks = _check_ks("retrieval_metrics", k)
    segments = [embeddings] if isinstance(embeddings, Tensor) else list(embeddings)
    dtype = torch.promote_types(segments[0].dtype, torch.float32)
    z = F.normalize(torch.cat(segments).to(dtype), dim=1)  # (N, D)
    y = (labels if isinstance(labels, Tensor) else torch.cat(list(labels))).to(z.device)
    y = y.reshape(-1)
    n = z.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"retrieval_metrics: {n} embeddings but {y.shape[0]} labels")
    if n < 2:
        return {}
    _, inverse, counts = torch.unique(y, return_inverse=True, return_counts=True)
    relevant = counts[inverse] - 1  # (N,) relevant rows in each query's gallery
    top = min(ks[-1], n - 1)
    ranks = torch.arange(1, top + 1, device=z.device, dtype=dtype)  # (k,)
    ap_sum = {v: z.new_zeros(()) for v in ks}
    hit_sum = {v: z.new_zeros(()) for v in ks}
    block = max(1, min(n, max_elements // n))
    for start in range(0, n, block):
        rows = torch.arange(start, min(start + block, n), device=z.device)
        sim = z[rows] @ z.T  # (q, D) @ (D, N) -> (q, N)
        sim[torch.arange(rows.shape[0], device=z.device), rows] = -torch.inf  # not itself
        nearest = sim.topk(top, dim=1).indices  # (q, k)
        rel = (y[nearest] == y[rows].unsqueeze(1)).to(dtype)  # (q, k)
        precision = rel.cumsum(dim=1) / ranks  # (q, k)
        r_q = relevant[rows]
        valid = (r_q > 0).to(dtype)
        for v in ks:
            cut = min(v, top)
            ap = (precision[:, :cut] * rel[:, :cut]).sum(dim=1) / r_q.clamp(min=1, max=cut)
            ap_sum[v] = ap_sum[v] + (ap * valid).sum()
            hit_sum[v] = hit_sum[v] + (rel[:, :cut].amax(dim=1) * valid).sum()
    n_valid = int((relevant > 0).sum())
    if n_valid == 0:
        return {}
    out: dict[str, Tensor] = {}
    for v in ks:
        out[f"map@{v}"] = (ap_sum[v] / n_valid).to(torch.float32)
        out[f"recall@{v}"] = (hit_sum[v] / n_valid).to(torch.float32)
    return out


class Retrieval(NamedCallback):
    """mAP@k and recall@k of the validation embeddings, each a query against all the others.

    On every validation batch, ``input`` and ``target`` (read from the step outputs, else
    the batch; gathered from every rank under DDP) join this callback's validation queues,
    emptied at the start of each validation run; at the end of validation
    :func:`retrieval_metrics` of the queued samples (the most recent ``queue_length``) is
    logged as ``{name}/val/map@{k}`` and ``{name}/val/recall@{k}``: every queued sample is a
    query, the others are its gallery, same label means relevant, cosine similarity ranks.
    Under DDP every rank computes the same values on the gathered samples (the few padded
    duplicates of a ``DistributedSampler`` join them). Nothing is kept across validation
    runs, so the checkpoint state is empty.

    Args:
        name: Name of the callback, prefix of its logged metrics.
        input: Key of the embeddings ``(B, D)``.
        target: Key of the integer labels ``(B,)``.
        queue_length: Most validation samples kept (memory ``queue_length x D``).
        k: One cut-off or several.
        max_elements: Bound on the similarities held at once (memory ~ 4 bytes each).

    Examples:
        >>> retrieval = Retrieval(name="retrieval", input="embedding", target="label", k=[1, 10])
    """

    def __init__(
        self,
        name: str,
        input: str = "embedding",
        target: str = "label",
        queue_length: int = 20000,
        k: int | Sequence[int] = (1, 5, 10),
        max_elements: int = 2**22,
    ) -> None:
        super().__init__(name)
        if not isinstance(queue_length, int) or queue_length < 1:
            raise ValueError(
                f"{self._owner}: queue_length must be a positive int, got {queue_length!r}"
            )
        self.input = input
        self.target = target
        self.queue_length = queue_length
        self.k = _check_ks(self._owner, k)
        self.max_elements = int(max_elements)
        self._embeddings = RingQueue(input, queue_length)
        self._labels = RingQueue(target, queue_length)

    @override
    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._embeddings = RingQueue(self.input, self.queue_length)
        self._labels = RingQueue(self.target, self.queue_length)

    @override
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        x = read_key(outputs, batch, self.input, owner=self._owner, argument="input")
        y = read_key(outputs, batch, self.target, owner=self._owner, argument="target")
        if x.ndim != 2:
            raise ValueError(
                f"{self._owner}: input {self.input!r} has shape {tuple(x.shape)}; expected "
                "(batch, dim) embeddings"
            )
        y = y.reshape(-1).to(x.device)
        check_rows(self._owner, self.input, x, self.target, y)
        x = x.detach()
        if trainer.world_size > 1:  # (world, B, ...) -> (world * B, ...)
            x = trainer.strategy.all_gather(x).flatten(0, 1)
            y = trainer.strategy.all_gather(y).flatten(0, 1)
        self._embeddings.push(x)
        self._labels.push(y)

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        embeddings = self._embeddings.recent()
        if not embeddings:
            return
        values = retrieval_metrics(
            embeddings, self._labels.recent(), self.k, max_elements=self.max_elements
        )
        log_metrics(pl_module, f"{self.name}/val", values)
