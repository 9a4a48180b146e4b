"""Sinkhorn-Knopp: SwAV's equal-partition soft assignment of samples to prototypes."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from spt_losses import _distributed
from spt_losses._checks import check_rank
from spt_losses._precision import compute_dtype

__all__ = ["sinkhorn_knopp"]


def _nonzero(sums: Tensor) -> Tensor:
    """Sums with exact zeros replaced by 1: an all-zero row or column stays 0, not 0/0."""
    return torch.where(sums > 0, sums, torch.ones_like(sums))


def _all_reduce_max(x: Tensor) -> Tensor:
    if _distributed.world_size() == 1:
        return x
    out = x.clone()
    dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return out


@torch.no_grad()
def sinkhorn_knopp(
    scores: Tensor,
    epsilon: float = 0.05,
    iterations: int = 3,
    *,
    shared_scores: Tensor | None = None,
) -> Tensor:
    """Codes of SwAV (Caron et al., 2020, "Unsupervised Learning of Visual Features by
    Contrasting Cluster Assignments"), Algorithm 1 of the paper's code.

    `Q = exp(scores / epsilon)` as a (K, N) matrix over the N samples of the global
    batch is normalised to total mass 1, then `iterations` times its rows (prototypes) are
    scaled to sum to 1/K and its columns (samples) to 1/N; the columns are returned scaled
    to sum to 1. Under DDP every sum over samples (the total and the row sums) and the
    number of samples are all-reduced, so each rank gets its rows of the global batch's
    codes (N = the sum of the ranks' B, which may differ between ranks and be 0 on some, as
    with DINOv2's masked patches). The largest score (over every rank) is subtracted
    before `exp`: a constant factor of Q that the first normalisation cancels, so the result
    is the paper's, and a small `epsilon` cannot overflow. A prototype or sample whose every
    entry underflows to 0 (scores more than about 100 `epsilon` below the largest, in
    float32) keeps 0 mass instead of becoming 0/0. Computed in the scores'
    precision promoted to at least float32, with autocast disabled, without gradient
    (codes are targets).

    `shared_scores` are the scores of samples that every rank holds identically (SwAV's
    queue, filled by a gathered `MemoryBank`): they take part in the normalisation once,
    not once per rank, and get no codes back.

    Args:
        scores: (B, K) scores of this rank's samples against the K prototypes.
        epsilon: entropic regularisation; the paper uses 0.05.
        iterations: Sinkhorn iterations; the paper uses 3.
        shared_scores: optional (Q, K) scores of samples replicated on every rank.

    Returns:
        (B, K) codes of `scores`' samples, each row a distribution over the prototypes.

    Raises:
        ValueError: a non-positive `epsilon`, fewer than one iteration, or scores that are
            not 2-D with the same K.

    Examples:
        >>> q = sinkhorn_knopp(torch.randn(8, 5))
        >>> torch.allclose(q.sum(dim=1), torch.ones(8))
        True
    """
    if not epsilon > 0:
        raise ValueError(f"sinkhorn_knopp: epsilon must be > 0; got {epsilon}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"sinkhorn_knopp: iterations must be an int >= 1; got {iterations!r}")
    check_rank("scores", scores, 2, "(B, K)")
    tensors = [scores]
    if shared_scores is not None:
        check_rank("shared_scores", shared_scores, 2, "(Q, K)")
        if shared_scores.shape[1] != scores.shape[1]:
            raise ValueError(
                f"shared_scores must have the K = {scores.shape[1]} columns of scores; "
                f"got shape {tuple(shared_scores.shape)}"
            )
        tensors.append(shared_scores)
    dtype = compute_dtype(*tensors)
    with torch.autocast(device_type=scores.device.type, enabled=False):
        local = scores.detach().to(dtype) / epsilon  # (B, K)
        shared = None if shared_scores is None else shared_scores.detach().to(dtype) / epsilon
        top = _all_reduce_max(local.amax() if local.numel() else local.new_full((), -torch.inf))
        if shared is not None and shared.numel():
            top = torch.maximum(top, shared.max())
        q = torch.exp(local - top).t()  # (K, B)
        q_shared = None if shared is None else torch.exp(shared - top).t()  # (K, Q)
        num_prototypes = q.shape[0]

        def global_sum(local_part: Tensor, shared_part: Tensor | None) -> Tensor:
            total = _distributed.all_reduce_sum(local_part)
            return total if shared_part is None else total + shared_part

        # one all-reduce for the total mass and the number of samples of the global batch
        mass_and_count = torch.stack([q.sum(), q.new_full((), float(q.shape[1]))])
        shared_mass_and_count = None
        if q_shared is not None:
            shared_mass_and_count = torch.stack(
                [q_shared.sum(), q_shared.new_full((), float(q_shared.shape[1]))]
            )
        total, num_samples = global_sum(mass_and_count, shared_mass_and_count).unbind()
        q = q / total
        q_shared = None if q_shared is None else q_shared / total
        for _ in range(iterations):
            rows = global_sum(
                q.sum(dim=1, keepdim=True),
                None if q_shared is None else q_shared.sum(dim=1, keepdim=True),
            )  # (K, 1): the mass of each prototype over the global batch
            rows = _nonzero(rows)
            q = q / rows / num_prototypes
            q = q / _nonzero(q.sum(dim=0, keepdim=True)) / num_samples
            if q_shared is not None:
                q_shared = q_shared / rows / num_prototypes
                q_shared = q_shared / _nonzero(q_shared.sum(dim=0, keepdim=True)) / num_samples
        return (q * num_samples).t()
