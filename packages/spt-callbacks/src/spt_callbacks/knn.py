"""Online k-nearest-neighbour classification of validation samples against queued training ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from typing_extensions import override

from spt_callbacks._metrics import StageMetrics, TopOneAccuracy, log_metrics, metric_dict
from spt_callbacks._outputs import check_rows, read_key
from spt_callbacks._queued import WatchedQueues
from spt_callbacks._state import NamedCallback

__all__ = ["OnlineKNN", "knn_predict"]

_DISTANCES = ("cosine", "euclidean")
_EUCLIDEAN_EPS = 1e-5  # keeps the weight 1 / (d + eps) of an exact duplicate finite


def _prepare(chunk: Tensor, distance: str) -> Tensor:
    """A bank chunk as float32, L2-normalised for the cosine similarity."""
    chunk = chunk.to(torch.float32)
    return F.normalize(chunk, dim=1) if distance == "cosine" else chunk


def _similarity(queries: Tensor, chunk: Tensor, distance: str) -> Tensor:
    """Similarities of prepared queries and a prepared chunk: larger is nearer."""
    if distance == "cosine":
        return queries @ chunk.T  # (q, D) @ (D, c) -> (q, c)
    return -torch.cdist(queries, chunk)  # (q, c)


def _vote_weights(nearest: Tensor, temperature: float, distance: str) -> Tensor:
    """Vote weights of the ``(Q, k)`` similarities of the nearest rows, nearest first."""
    if distance == "cosine":
        # Shifted by the row maximum before exp: same normalised weights, no overflow.
        return ((nearest - nearest[:, :1]) / temperature).exp()
    return 1.0 / (_EUCLIDEAN_EPS - nearest)  # nearest = -d, so this is 1 / (d + eps)


def knn_predict(
    queries: Tensor,
    bank: Tensor | Sequence[Tensor],
    bank_labels: Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    distance: str = "cosine",
    max_elements: int = 2**22,
) -> Tensor:
    """Weighted kNN class scores of ``queries`` against a labelled bank.

    Each query's ``k`` nearest bank rows vote for their labels. The weight of a neighbour
    depends on ``distance``:

    - ``"cosine"``: ``exp(s / temperature)`` with ``s`` the cosine similarity (Wu et al. 2018,
      as in DINO's and solo-learn's kNN).
    - ``"euclidean"``: ``1 / (d + 1e-5)`` with ``d`` the Euclidean distance, as solo-learn
      weights Euclidean votes; ``temperature`` is not used. (An ``exp(-d / temperature)``
      weight on unnormalised distances would make every vote but the nearest vanish.)

    The similarity matrix is never built whole: queries go in blocks and the bank in chunks
    so that at most ``max_elements`` similarities exist at a time, with a running top-k
    merged across chunks.

    Args:
        queries: ``(Q, D)`` query embeddings.
        bank: ``(N, D)`` bank embeddings, or a list of row segments that concatenate to it
            (what :meth:`RingQueue.recent` returns).
        bank_labels: ``(N,)`` integer labels of the bank rows, in the same order.
        num_classes: Number of classes ``C``; labels must be in ``[0, C)``.
        k: Number of neighbours (clipped to ``N``).
        temperature: Temperature of the cosine vote weights.
        distance: ``"cosine"`` or ``"euclidean"``.
        max_elements: Bound on the number of similarities held at once.

    Returns:
        ``(Q, C)`` float32 scores: the normalised weighted votes (rows sum to 1).

    Examples:
        >>> bank = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> knn_predict(torch.tensor([[0.9, 0.1]]), bank, torch.tensor([0, 1]), 2, k=1)
        tensor([[1., 0.]])
    """
    if distance not in _DISTANCES:
        raise ValueError(f"knn_predict: distance={distance!r} must be one of {_DISTANCES}")
    segments = [bank] if isinstance(bank, Tensor) else list(bank)
    n_bank = sum(int(s.shape[0]) for s in segments)
    if n_bank != bank_labels.shape[0]:
        raise ValueError(f"knn_predict: {n_bank} bank rows but {bank_labels.shape[0]} labels")
    if n_bank == 0:
        raise ValueError("knn_predict: the bank is empty")
    queries = queries.to(torch.float32)
    if distance == "cosine":
        queries = F.normalize(queries, dim=1)
    k = min(int(k), n_bank)
    labels = bank_labels.to(device=queries.device, dtype=torch.long)
    n_queries = queries.shape[0]
    q_block = max(1, min(n_queries, 1024, max_elements // k))
    n_chunk = max(k, max_elements // q_block)
    # Running top-k of every query, merged chunk by chunk: (Q, <=k) similarities and labels.
    best_sim = queries.new_empty((n_queries, 0))
    best_lab = labels.new_empty((n_queries, 0))
    offset = 0
    for segment in segments:
        for start in range(0, segment.shape[0], n_chunk):
            chunk = _prepare(segment[start : start + n_chunk], distance)  # once per chunk
            chunk_labels = labels[offset + start : offset + start + chunk.shape[0]]
            merged_sim, merged_lab = [], []
            for q_start in range(0, n_queries, q_block):
                rows = slice(q_start, q_start + q_block)
                sim = _similarity(queries[rows], chunk, distance)  # (q, c)
                sim, idx = sim.topk(min(k, sim.shape[1]), dim=1)
                both_sim = torch.cat([best_sim[rows], sim], dim=1)  # (q, <=2k)
                both_lab = torch.cat([best_lab[rows], chunk_labels[idx]], dim=1)
                top, keep = both_sim.topk(min(k, both_sim.shape[1]), dim=1)
                merged_sim.append(top)
                merged_lab.append(both_lab.gather(1, keep))
            best_sim, best_lab = torch.cat(merged_sim), torch.cat(merged_lab)
        offset += segment.shape[0]
    weights = _vote_weights(best_sim, temperature, distance)  # (Q, k)
    votes = torch.zeros(n_queries, num_classes, device=queries.device, dtype=torch.float32)
    votes.scatter_add_(1, best_lab, weights)
    return votes / votes.sum(dim=1, keepdim=True)


class OnlineKNN(NamedCallback):
    """kNN accuracy of validation embeddings against a queue of recent training embeddings.

    On every training batch, ``input`` and ``target`` (read from the step outputs, else the
    batch) join shared queues (gathered from every rank under DDP). On every validation
    batch, the validation ``input`` is classified by :func:`knn_predict` against the most
    recent ``queue_length`` queued items, on the device, and the metrics are updated; they
    are logged as ``{name}/val/{metric}`` at the end of validation. The queues this callback
    asked for first are in its checkpoint state.

    Args:
        name: Name of the callback, prefix of its logged metrics.
        input: Key of the embeddings ``(B, D)``.
        target: Key of the integer labels ``(B,)``.
        queue_length: Number of training samples kept.
        metrics: A ``torchmetrics.Metric`` or a dict of them fed ``(scores (B, C), labels)``;
            None logs top-1 accuracy as ``{name}/val/top1``.
        input_dim: Expected ``D``; a different dimension raises.
        k: Number of neighbours, at most ``queue_length``.
        temperature: Temperature of the cosine vote weights ``exp(sim / temperature)``.
        distance: ``"cosine"`` or ``"euclidean"`` (votes ``1 / (d + 1e-5)``, see
            :func:`knn_predict`).
        num_classes: Number of classes; None reads it from the metrics, else from the
            largest label seen (one host sync per validation batch).
        max_elements: Bound on the similarities held at once (memory ~ 4 bytes each).

    Examples:
        >>> knn = OnlineKNN(name="knn", input="embedding", target="label", queue_length=20000, k=10)
    """

    def __init__(
        self,
        name: str,
        input: str,
        target: str,
        queue_length: int,
        metrics: Any = None,
        input_dim: int | None = None,
        k: int = 20,
        temperature: float = 0.07,
        distance: str = "cosine",
        *,
        num_classes: int | None = None,
        max_elements: int = 2**22,
    ) -> None:
        super().__init__(name)
        if distance not in _DISTANCES:
            raise ValueError(f"{self._owner}: distance={distance!r} must be one of {_DISTANCES}")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"{self._owner}: k must be a positive int, got {k!r}")
        if temperature <= 0:
            raise ValueError(f"{self._owner}: temperature must be > 0, got {temperature!r}")
        if isinstance(queue_length, int) and 1 <= queue_length < k:  # votes would be clipped
            raise ValueError(
                f"{self._owner}: k={k} neighbours exceeds queue_length={queue_length}, the most "
                f"training embeddings ever queued, so every vote would use {queue_length} "
                f"instead; pass k<={queue_length} or queue_length>={k}"
            )
        self.input = input
        self.target = target
        self.queue_length = queue_length
        self.input_dim = input_dim
        self.k = k
        self.temperature = float(temperature)
        self.distance = distance
        self.max_elements = int(max_elements)
        given = metric_dict(self._owner, metrics)
        self.num_classes = num_classes
        if self.num_classes is None and given:
            found = [getattr(m, "num_classes", None) for m in given.values()]
            self.num_classes = next((int(c) for c in found if isinstance(c, int)), None)
        self.metrics = StageMetrics(given or {"top1": TopOneAccuracy()})
        self._queues = WatchedQueues(self._owner)
        self._queues.watch(input, queue_length)
        self._queues.watch(target, queue_length)

    def _check_dim(self, x: Tensor) -> None:
        if x.ndim != 2 or (self.input_dim is not None and x.shape[1] != self.input_dim):
            raise ValueError(
                f"{self._owner}: input {self.input!r} has shape {tuple(x.shape)} but "
                f"input_dim={self.input_dim}; expected (batch, {self.input_dim or 'D'}). "
                "Fix input_dim or the key"
            )

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._queues.attach(trainer)
        self.metrics.to(trainer.strategy.root_device)

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._queues.new_batch()

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        x = read_key(outputs, batch, self.input, owner=self._owner, argument="input")
        y = read_key(outputs, batch, self.target, owner=self._owner, argument="target")
        self._check_dim(x)
        check_rows(self._owner, self.input, x, self.target, y)
        self._queues.push(self.input, x)
        self._queues.push(self.target, y)

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
        bank = self._queues.recent(self.input)
        if not bank:  # nothing queued yet (sanity check, validation before training)
            return
        x = read_key(outputs, batch, self.input, owner=self._owner, argument="input")
        y = read_key(outputs, batch, self.target, owner=self._owner, argument="target")
        self._check_dim(x)
        check_rows(self._owner, self.input, x, self.target, y)
        if self._queues[self.input].item_shape != tuple(x.shape[1:]):
            raise ValueError(
                f"{self._owner}: validation {self.input!r} has dimension {x.shape[1]} but the "
                f"queued training ones have {self._queues[self.input].item_shape}"
            )
        bank_labels = torch.cat(self._queues.recent(self.target))
        y = y.to(bank_labels.device)
        num_classes = self.num_classes
        if num_classes is None:
            num_classes = int(torch.maximum(bank_labels.max(), y.max())) + 1
        scores = knn_predict(
            x.detach(),
            bank,
            bank_labels,
            num_classes,
            self.k,
            self.temperature,
            self.distance,
            self.max_elements,
        )
        self.metrics.update("val", scores, y)

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log_metrics(pl_module, f"{self.name}/val", self.metrics.compute_and_reset("val"))

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"queues": self._queues.state_dict()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._queues.load_state_dict(state_dict.get("queues", {}))
