"""MoCo's losses: InfoNCE against a queue of keys (v2) and over the global batch (v3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses import _distributed
from spt_losses._checks import check_rank, check_same_shape
from spt_losses._precision import compute_dtype


def _check_temperature(name: str, temperature: float) -> float:
    if not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0; got {temperature}")
    return float(temperature)


class MoCoV2Loss(nn.Module):
    """InfoNCE of MoCo v2 (Chen, Fan, Girshick, He, 2020, "Improved Baselines with Momentum
    Contrastive Learning"; the loss of He et al., 2020, "Momentum Contrast").

    Queries, keys and the queue are L2-normalised. Query i has one positive, key i (the
    momentum encoder's embedding of another view of sample i), and the K queued keys as
    negatives: `-log exp(q.k+ / t) / (exp(q.k+ / t) + sum_j exp(q.n_j / t))`, averaged over
    the queries. Computed in the inputs' precision promoted to at least float32.

    The keys and the queue are used as given: the momentum encoder produces keys without
    gradient, and a `MemoryBank` never holds one. Nothing is gathered across ranks: each
    rank's positives are its own keys, and the queue holds the gathered keys of earlier
    steps (the same bank on every rank), so the mean of the rank losses is the loss of the
    global batch.

    Args:
        temperature: softmax temperature, > 0. Default 0.2 (MoCo v2).

    Shapes:
        - query: (B, D); key: (B, D); queue: (K, D), K >= 0.
        - output: scalar tensor.

    Examples:
        >>> loss_fn = MoCoV2Loss(temperature=0.2)
        >>> q, k, queue = torch.randn(4, 8), torch.randn(4, 8), torch.randn(16, 8)
        >>> loss_fn(q, k, queue).shape
        torch.Size([])
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = _check_temperature("MoCoV2Loss", temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(self, query: Tensor, key: Tensor, queue: Tensor) -> Tensor:
        """Computes the loss.

        Args:
            query: (B, D) embeddings of the trained encoder.
            key: (B, D) embeddings of the momentum encoder, row i from the same sample.
            queue: (K, D) negatives, e.g. `MemoryBank.contents()`.

        Returns:
            Scalar loss.

        Raises:
            ValueError: inputs that are not 2-D, query and key of different shapes, or a
                queue whose width is not D.
        """
        check_rank("query", query, 2, "(B, D)")
        check_rank("key", key, 2, "(B, D)")
        check_rank("queue", queue, 2, "(K, D)")
        check_same_shape(["query", "key"], [query, key])
        if queue.shape[1] != query.shape[1]:
            raise ValueError(
                f"queue must have the embedding size of the queries; got queue "
                f"{tuple(queue.shape)} and query {tuple(query.shape)}"
            )
        dtype = compute_dtype(query, key, queue)
        q = F.normalize(query.to(dtype), dim=1)
        k = F.normalize(key.to(dtype), dim=1)
        negatives = F.normalize(queue.to(dtype), dim=1)
        positive = (q * k).sum(dim=1, keepdim=True)  # (B, 1)
        logits = torch.cat([positive, q @ negatives.T], dim=1) / self.temperature  # (B, 1+K)
        return -F.log_softmax(logits, dim=1)[:, 0].mean()


class MoCoV3Loss(nn.Module):
    """Contrastive loss of MoCo v3 (Chen, Xie, He, 2021, "An Empirical Study of Training
    Self-Supervised Vision Transformers"), one direction of it.

    Queries and keys are L2-normalised; the logits of each query are its similarities to
    the keys of the whole global batch divided by the temperature, the positive of query i
    on rank r is key `r * B + i` (keys are gathered from every rank), and the loss is the
    cross-entropy scaled by `2 * temperature`, as in the paper's pseudo-code. The symmetric
    loss of the paper is `loss(q1, k2) + loss(q2, k1)` (what `spt.forward.moco_v3` computes).

    Under DDP the value on a rank is the mean over its own queries; the mean over ranks is
    the loss of the global batch. Keys are gathered with gradient (the momentum encoder's
    keys have none, so this only matters for keys that do). Every rank must hold the same B.

    Args:
        temperature: softmax temperature, > 0. Default 0.2 (the paper's ViT setting; its
            ResNet-50 recipe uses 1.0).

    Shapes:
        - query: (B, D); key: (B, D).
        - output: scalar tensor.

    Examples:
        >>> loss_fn = MoCoV3Loss(temperature=0.2)
        >>> loss_fn(torch.randn(4, 8), torch.randn(4, 8)).shape
        torch.Size([])
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = _check_temperature("MoCoV3Loss", temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Computes `2 * t * cross_entropy(q @ k_global.T / t, rank * B + arange(B))`.

        Args:
            query: (B, D) predictions of the trained encoder.
            key: (B, D) embeddings of the momentum encoder, row i from the same sample.

        Returns:
            Scalar loss.

        Raises:
            ValueError: inputs that are not 2-D or of different shapes.
        """
        check_rank("query", query, 2, "(B, D)")
        check_rank("key", key, 2, "(B, D)")
        check_same_shape(["query", "key"], [query, key])
        dtype = compute_dtype(query, key)
        q = F.normalize(query.to(dtype), dim=1)
        keys = _distributed.gather(F.normalize(key.to(dtype), dim=1))  # (W*B, D), rank-major
        logits = q @ keys.T / self.temperature  # (B, W*B)
        batch = q.shape[0]
        labels = _distributed.rank() * batch + torch.arange(batch, device=q.device)
        return 2 * self.temperature * F.cross_entropy(logits, labels)


__all__ = ["MoCoV2Loss", "MoCoV3Loss"]
