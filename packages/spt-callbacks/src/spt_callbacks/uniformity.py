"""Uniformity, alignment and per-dimension spread of normalised embeddings (Wang & Isola 2020)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from typing_extensions import override

from spt_callbacks._monitor import QueueMonitor
from spt_callbacks._outputs import read_key

__all__ = ["Uniformity", "alignment", "dimension_std", "uniformity"]


def uniformity(embeddings: Tensor, t: float = 2.0) -> Tensor:
    """``log E[exp(-t ||x - y||^2)]`` over distinct pairs of L2-normalised rows.

    From "Understanding Contrastive Representation Learning through Alignment and
    Uniformity on the Hypersphere" (Wang & Isola, ICML 2020). Lower is more uniform; a
    collapsed representation gives 0.

    Args:
        embeddings: ``(N, D)`` embeddings, ``N >= 2``.
        t: Temperature of the Gaussian potential.

    Returns:
        A 0-dim float32 tensor.
    """
    z = F.normalize(embeddings.to(torch.float32), dim=1)
    sq_dist = torch.pdist(z).pow(2)  # (N * (N - 1) / 2,)
    return sq_dist.mul(-t).exp().mean().log()


def alignment(first: Tensor, second: Tensor, alpha: float = 2.0) -> Tensor:
    """``E[||f(x) - f(y)||^alpha]`` over positive pairs of L2-normalised rows (Wang & Isola 2020).

    Args:
        first: ``(B, D)`` embeddings of one view.
        second: ``(B, D)`` embeddings of the other view, row ``i`` paired with row ``i``.
        alpha: Exponent of the distance.
    """
    x = F.normalize(first.to(torch.float32), dim=1)
    y = F.normalize(second.to(torch.float32), dim=1)
    distance: Tensor = (x - y).norm(dim=1)
    return distance.pow(alpha).mean()


def dimension_std(embeddings: Tensor | Sequence[Tensor]) -> Tensor:
    """Mean over dimensions of the standard deviation of L2-normalised embeddings.

    The SimSiam collapse indicator (Chen & He 2021): about ``1 / sqrt(D)`` for well spread
    embeddings, 0 for a collapsed representation.
    """
    segments = [embeddings] if isinstance(embeddings, Tensor) else list(embeddings)
    z = torch.cat([F.normalize(s.to(torch.float32), dim=1) for s in segments])
    return z.std(dim=0).mean()


class Uniformity(QueueMonitor):
    """Log uniformity and per-dimension std of queued embeddings, and optionally alignment.

    Every ``every_n_steps`` training batches logs ``{name}/uniformity`` (over the most recent
    ``min(queue_length, max_samples)`` queued embeddings; pairwise, so bounded),
    ``{name}/std`` (over the whole queue) and, when ``pair`` names the other view's key,
    ``{name}/alignment`` between ``input`` and ``pair`` of the current batch. All are
    tensors logged without a host sync.

    Args:
        name: Name of the monitor.
        input: Key of the embeddings ``(B, D)``.
        queue_length: Number of recent embeddings measured.
        every_n_steps: Measure after every ``every_n_steps``-th training batch.
        pair: Key of the positive views' embeddings for alignment, or None.
        t: Temperature of the uniformity potential.
        max_samples: Most embeddings used for uniformity (its cost is quadratic).

    Examples:
        >>> monitor = Uniformity(name="uniformity", input="embedding", queue_length=4096)
    """

    def __init__(
        self,
        name: str,
        input: str,
        queue_length: int,
        every_n_steps: int = 100,
        pair: str | None = None,
        t: float = 2.0,
        max_samples: int = 4096,
    ) -> None:
        super().__init__(name, input, queue_length, every_n_steps)
        self.pair = pair
        self.t = t
        self.max_samples = max_samples

    @override
    def measure(self, embeddings: list[Tensor], outputs: Any, batch: Any) -> dict[str, Tensor]:
        queue = self._queues[self.input]  # only the newest max_samples rows are copied
        recent = torch.cat(queue.recent(min(self.queue_length, self.max_samples)))
        values = {"uniformity": uniformity(recent, self.t), "std": dimension_std(embeddings)}
        if self.pair is not None:
            x = read_key(outputs, batch, self.input, owner=self._owner, argument="input")
            y = read_key(outputs, batch, self.pair, owner=self._owner, argument="pair")
            values["alignment"] = alignment(x.detach(), y.detach())
        return values
