"""NT-Xent (normalised temperature-scaled cross-entropy), the SimCLR / InfoNCE objective."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spt_losses import _distributed, _similarity
from spt_losses._checks import check_rank, check_same_shape
from spt_losses._precision import compute_dtype


class NTXEntLoss(nn.Module):
    """NT-Xent loss of SimCLR (Chen et al., 2020, "A Simple Framework for Contrastive
    Learning of Visual Representations"), also known as InfoNCE.

    Embeddings are L2-normalised; each row is contrasted against every other row of every
    view (its own similarity is masked with -inf) and, if given, against a queue of extra
    negatives (MoCo style). The logits are reduced with one fused, max-shifted log-softmax
    in the views' precision promoted to at least float32 (float32 for bf16, fp16 and
    float32 views, float64 for float64 views), so the full similarity matrix is never
    exponentiated on its own and low temperatures do not overflow under bf16 or fp16
    autocast. In one process without
    negatives the similarity matrix is symmetric, and where that is faster (small batches,
    or D >= 1024) its backward runs one matmul instead of two.

    With V >= 2 views, every other view of the same sample is a positive. The loss of an
    anchor is the average, over its V - 1 positives, of the pairwise loss
    `-logit(positive) + logsumexp(all logits but its own)` (the other positives stay in the
    denominator, as in SimCLR); the result is the mean over all anchors. For V = 2 this is
    exactly SimCLR's loss.

    Under DDP (`torch.distributed` initialised, world size > 1) the local rows are compared
    against the columns of the global batch gathered with gradient. The value returned on
    a rank is the mean over its own anchors; its mean over ranks (what DDP's gradient
    averaging optimises, and what `sync_dist=True` logs) is the loss of the global batch.
    Every rank must hold the same batch size.

    Args:
        temperature: softmax temperature, > 0. Default 0.5.

    Shapes:
        - views: V >= 2 tensors of shape (B, D), one per view, row i of each from sample i.
        - negatives: optional (K, D) tensor of extra negatives, shared by all anchors; it
          is used as given (detach a queue yourself) and not gathered across ranks, so
          under DDP pass the same queue on every rank (fill it from gathered embeddings).
        - output: scalar tensor.

    Examples:
        >>> loss_fn = NTXEntLoss(temperature=0.5)
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss_fn(z1, z2).shape
        torch.Size([])
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        self.temperature = float(temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(self, *views: Tensor, negatives: Tensor | None = None) -> Tensor:
        """Computes the loss.

        Args:
            *views: two or more (B, D) embeddings of the same B samples.
            negatives: optional (K, D) extra negatives.

        Returns:
            Scalar loss.

        Raises:
            ValueError: fewer than two views, a view that is not (B, D), views of different
                shapes, or negatives that are not (K, D).
        """
        if len(views) < 2:
            raise ValueError(
                f"NTXEntLoss needs at least two views, e.g. loss(z1, z2); got {len(views)}"
            )
        names = [f"view {i}" for i in range(len(views))]
        for name, z in zip(names, views, strict=True):
            check_rank(name, z, 2, "(B, D)")
        check_same_shape(names, views)
        n_views = len(views)
        batch, dim = views[0].shape
        if negatives is not None:
            check_rank("negatives", negatives, 2, "(K, D)")
            if negatives.shape[1] != dim:
                raise ValueError(
                    f"negatives must have the embedding size of the views; got negatives "
                    f"{tuple(negatives.shape)} and views {tuple(views[0].shape)}"
                )

        z = torch.cat([F.normalize(v, dim=1) for v in views])  # (V*B, D), view-major
        n_local = n_views * batch
        single = _distributed.world_size() == 1
        if negatives is None and single and _similarity.prefers_gram(n_local, dim):
            # q = k: scaling both sides by 1/sqrt(t) gives logits z.z'/t
            offset = 0
            logits = _similarity.masked_gram(z * self.temperature**-0.5)  # (V*B, V*B)
        else:
            keys = _distributed.gather(z)  # (W*V*B, D), rank-major
            if negatives is not None:
                keys = torch.cat([keys, F.normalize(negatives, dim=1).to(keys.dtype)])
            offset = _distributed.rank() * n_local
            # scaling the (V*B, D) queries is cheaper than scaling the logits
            queries = z / self.temperature
            logits = _similarity.masked_logits(queries, keys, offset)  # (V*B, W*V*B [+ K])
        # one fused, max-shifted pass in the views' precision, at least float32: the full
        # matrix is never exponentiated on its own, so low temperatures cannot overflow
        # under bf16 or fp16, and float64 views stay float64 end to end
        log_prob = F.log_softmax(logits.to(compute_dtype(z)), dim=1)
        positives = _positive_columns(n_views, batch, offset, z.device)  # (V*B, V-1)
        return -log_prob.gather(1, positives).mean()


def _positive_columns(n_views: int, batch: int, offset: int, device: torch.device) -> Tensor:
    """Global column of every other view of each local row's sample, (V*B, V-1)."""
    view = torch.arange(n_views, device=device)
    j = torch.arange(n_views - 1, device=device)
    others = j[None, :] + (j[None, :] >= view[:, None]).long()  # (V, V-1): every v' != v
    sample = torch.arange(batch, device=device)
    # row (v, i) -> columns offset + v' * B + i for v' != v
    cols = offset + others[:, None, :] * batch + sample[None, :, None]  # (V, B, V-1)
    return cols.reshape(n_views * batch, n_views - 1)


NTXentLoss = NTXEntLoss
