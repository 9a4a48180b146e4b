"""Split a tensor of concatenated views back into one tensor per view."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["fold_views"]


def fold_views(x: torch.Tensor, sample_idx: torch.Tensor | Sequence[int]) -> list[torch.Tensor]:
    """Split the rows of ``x`` into views, matching rows by ``sample_idx``.

    ``x`` holds ``V`` rows of each of ``B`` samples in any order, e.g. the views of a
    multi-view batch concatenated (``torch.cat([v0, v1])``) or a batch drawn with
    :class:`~spt_data.RepeatedRandomSampler`. Row ``i`` belongs to sample ``sample_idx[i]``;
    every sample must appear the same number of times ``V``. The result is ``V`` tensors of
    shape ``(B, ...)`` in which ``views[v][i]`` is the ``v``-th occurrence of the ``i``-th
    sample, samples in order of first appearance, so ``views[0]`` of concatenated views is
    the first view unchanged.

    Args:
        x: Tensor of shape ``(V * B, ...)``.
        sample_idx: Integer tensor or sequence of shape ``(V * B,)``.

    Returns:
        A list of ``V`` tensors of shape ``(B, ...)``.

    Raises:
        ValueError: the lengths differ, ``x`` is empty, or samples appear a different number of
            times (the message says which).

    Examples:
        >>> z0, z1 = torch.randn(4, 8), torch.randn(4, 8)
        >>> idx = torch.tensor([7, 3, 5, 1])
        >>> views = fold_views(torch.cat([z0, z1]), torch.cat([idx, idx]))
        >>> torch.equal(views[0], z0) and torch.equal(views[1], z1)
        True
    """
    idx = torch.as_tensor(sample_idx, device=x.device)
    if idx.ndim != 1 or idx.shape[0] != x.shape[0]:
        raise ValueError(
            f"fold_views: expected sample_idx of shape ({x.shape[0]},), one per row of x, "
            f"got shape {tuple(idx.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError("fold_views: x has no rows")
    sorted_idx, order = torch.sort(idx, stable=True)
    _, counts = torch.unique_consecutive(sorted_idx, return_counts=True)
    n_views = int(counts[0])
    if not bool((counts == n_views).all()):
        uniques = torch.unique_consecutive(sorted_idx)
        low, high = int(counts.argmin()), int(counts.argmax())
        raise ValueError(
            "fold_views: expected every sample_idx to appear the same number of times (once per "
            f"view), but sample_idx {int(uniques[low])} appears {int(counts[low])} time(s) and "
            f"sample_idx {int(uniques[high])} appears {int(counts[high])} time(s); with a "
            "repeated sampler make the batch size a multiple of the number of views"
        )
    # (B, V): row u holds the positions of sample u's occurrences, in their original order.
    positions = order.view(-1, n_views)
    positions = positions[torch.argsort(positions[:, 0])]
    return [x[positions[:, v]] for v in range(n_views)]
