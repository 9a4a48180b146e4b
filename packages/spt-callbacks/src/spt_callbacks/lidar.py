"""LiDAR: the effective rank of the LDA matrix of several views per sample (Thilak et al. 2023)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as pl
import torch
from torch import Tensor
from typing_extensions import override

from spt_callbacks._monitor import QueueMonitor
from spt_callbacks._outputs import read_key

__all__ = ["LiDAR", "lidar"]


def _rows(value: Tensor | Sequence[Tensor]) -> Tensor:
    return value if isinstance(value, Tensor) else torch.cat(list(value))


def _linalg_dtype(device: torch.device) -> torch.dtype:
    return torch.float64 if device.type != "mps" else torch.float32  # MPS has no float64


def lidar(
    embeddings: Tensor | Sequence[Tensor],
    sample_idx: Tensor | Sequence[Tensor],
    delta: float = 1e-4,
    eps: float = 1e-7,
) -> Tensor:
    """LiDAR: ``exp(H(p))`` of the normalised eigenvalues of the LDA matrix of the views.

    From "LiDAR: Sensing Linear Probing Performance in Joint Embedding SSL Architectures"
    (Thilak et al., ICLR 2024). Each source sample is a surrogate class whose members are its
    augmented views (the rows sharing a ``sample_idx``). With ``mu_c`` the mean of class
    ``c``, ``mu`` the mean of the class means, ``n`` classes and ``N`` rows:

    - within-class scatter ``S_w = (1/N) sum_rows (z - mu_c)(z - mu_c)^T + delta * I``,
    - between-class scatter ``S_b = (1/n) sum_c (mu_c - mu)(mu_c - mu)^T``,
    - LDA matrix ``S_w^{-1/2} S_b S_w^{-1/2}`` with eigenvalues ``lambda``,
    - ``p_k = lambda_k / ||lambda||_1 + eps`` and ``LiDAR = exp(-sum_k p_k log p_k)``.

    Samples with a single view (e.g. cut at the oldest end of a queue) are left out. The
    linear algebra is in float64 (float32 on MPS).

    Args:
        embeddings: ``(N, D)`` embeddings of the views, or row segments that concatenate to
            them.
        sample_idx: ``(N,)`` integer id of the source sample of each row (same segments).
        delta: The paper's regulariser ``delta`` of ``S_w``.
        eps: The paper's epsilon added to each normalised eigenvalue.

    Returns:
        A 0-dim float32 tensor on the embeddings' device, between 1 and about
        ``min(n - 1, D)``.

    Raises:
        ValueError: If the rows and ids differ in number, or fewer than two samples have two
            or more views.

    Examples:
        >>> views = torch.eye(3).repeat(2, 1) + 0.01 * torch.randn(6, 3)  # 3 samples, 2 views
        >>> 1.0 <= float(lidar(views, torch.tensor([0, 1, 2, 0, 1, 2]))) <= 3.0
        True
    """
    z = _rows(embeddings)
    idx = _rows(sample_idx).to(z.device).reshape(-1)
    if z.ndim != 2 or z.shape[0] != idx.shape[0]:
        raise ValueError(
            f"lidar: embeddings of shape {tuple(z.shape)} and sample_idx of shape "
            f"{tuple(idx.shape)}; expected (N, D) and (N,), one id per row"
        )
    value = _lidar(z, idx, delta, eps)
    if value is None:
        raise ValueError(
            "lidar: fewer than two samples have two or more views; queue several "
            "augmentations of each sample (MultiViewTransform or RepeatedRandomSampler)"
        )
    return value


def _lidar(z: Tensor, idx: Tensor, delta: float, eps: float) -> Tensor | None:
    """LiDAR of rows ``z`` (N, D) grouped by ``idx`` (N,); None with under two classes."""
    _, inverse, counts = torch.unique(idx, return_inverse=True, return_counts=True)
    keep = counts[inverse] >= 2  # a single view has no within-class spread
    if int(keep.sum()) < z.shape[0]:
        z, idx = z[keep], idx[keep]
        _, inverse, counts = torch.unique(idx, return_inverse=True, return_counts=True)
    n_classes = int(counts.shape[0])
    if n_classes < 2:
        return None
    dtype = _linalg_dtype(z.device)
    z = z.to(dtype)
    d = z.shape[1]
    means = torch.zeros(n_classes, d, dtype=dtype, device=z.device)
    means.index_add_(0, inverse, z)
    means /= counts.to(dtype).unsqueeze(1)  # (n, D)
    within = z - means[inverse]  # (N, D)
    eye = torch.eye(d, dtype=dtype, device=z.device)
    s_w = within.T @ within / z.shape[0] + delta * eye  # (D, D)
    between = means - means.mean(dim=0)  # (n, D)
    s_b = between.T @ between / n_classes  # (D, D)
    w, u = torch.linalg.eigh(s_w)  # S_w is positive definite: w >= delta
    inv_sqrt = (u * w.rsqrt()) @ u.T  # S_w^{-1/2}
    lda = inv_sqrt @ s_b @ inv_sqrt
    eigenvalues: Tensor = torch.linalg.eigvalsh((lda + lda.T) / 2).clamp(min=0)
    p = eigenvalues / eigenvalues.sum().clamp(min=torch.finfo(dtype).tiny) + eps
    return (-(p * p.log()).sum()).exp().to(torch.float32)


class LiDAR(QueueMonitor):
    """Log the LiDAR of the most recent ``queue_length`` view embeddings and their sample ids.

    On every training batch, ``input`` (the embeddings of all views, e.g. the ``embedding``
    ``(V*B, D)`` of the forward functions, views stacked) and ``sample_idx`` (one id per row:
    the id of the source sample) join shared queues. They are read from the step outputs,
    else from the batch: spt's forward functions do not return the id, so it comes from the
    batch, where every spt_data dataset puts ``sample_idx`` (a list of view dicts gives the
    ids of the views in the same stacked order; a single dict from
    ``RepeatedRandomSampler`` has one id per row). Every ``every_n_steps`` training batches
    :func:`lidar` of the queue is logged as ``{name}/lidar``. The views of a sample are its
    surrogate class; at least two views per sample are needed. The measurement waits for
    the host once (class ids and an eigen-decomposition).

    Args:
        name: Name of the monitor.
        input: Key of the embeddings ``(V*B, D)``.
        queue_length: Number of recent rows (views) measured, e.g. 2 views x 1,000 samples.
        every_n_steps: Measure after every ``every_n_steps``-th training batch.
        sample_idx: Key of the ``(V*B,)`` source-sample ids.
        delta: Regulariser of the within-class scatter.
        eps: Epsilon of the normalised eigenvalues.

    Examples:
        >>> monitor = LiDAR(name="lidar", input="embedding", queue_length=4096)
    """

    def __init__(
        self,
        name: str,
        input: str,
        queue_length: int,
        every_n_steps: int = 100,
        sample_idx: str = "sample_idx",
        delta: float = 1e-4,
        eps: float = 1e-7,
    ) -> None:
        super().__init__(name, input, queue_length, every_n_steps)
        if delta <= 0:
            raise ValueError(f"{self._owner}: delta must be > 0, got {delta!r}")
        self.sample_idx = sample_idx
        self.delta = float(delta)
        self.eps = float(eps)
        self._queues.watch(sample_idx, queue_length)

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
        ids = read_key(outputs, batch, self.sample_idx, owner=self._owner, argument="sample_idx")
        ids = ids.reshape(-1)
        if ids.shape[0] != x.shape[0]:
            raise ValueError(
                f"{self._owner}: input {self.input!r} has {x.shape[0]} rows but sample_idx "
                f"{self.sample_idx!r} has {ids.shape[0]}; give one id per row (the views of a "
                "sample share its id)"
            )
        self._queues.push(self.sample_idx, ids.to(device=x.device, dtype=torch.long))
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    @override
    def measure(self, embeddings: list[Tensor], outputs: Any, batch: Any) -> dict[str, Tensor]:
        # Both queues grow by the same rows each batch; a restored queue may hold more.
        rows = min(self._queues[self.input].count, self._queues[self.sample_idx].count)
        z = torch.cat(self._queues[self.input].recent(min(rows, self.queue_length)))
        ids = torch.cat(self._queues[self.sample_idx].recent(z.shape[0]))
        value = _lidar(z, ids.to(z.device), self.delta, self.eps)
        return {} if value is None else {"lidar": value}
