"""fold_views: concatenated or repeated views back into aligned per-view tensors."""

import pytest
import torch

from spt_data import fold_views


def slow_fold(x, sample_idx):
    """Obvious reference: for each sample in order of first appearance, its rows in order."""
    order, rows = [], {}
    for position, idx in enumerate(sample_idx.tolist()):
        if idx not in rows:
            order.append(idx)
            rows[idx] = []
        rows[idx].append(position)
    n_views = len(rows[order[0]])
    return [torch.stack([x[rows[idx][v]] for idx in order]) for v in range(n_views)]


def test_round_trip_of_concatenated_views():
    g = torch.Generator().manual_seed(0)
    views = [torch.randn(6, 4, generator=g) for _ in range(3)]
    idx = torch.randperm(100, generator=g)[:6]
    folded = fold_views(torch.cat(views), torch.cat([idx] * 3))
    assert len(folded) == 3
    for got, expected in zip(folded, views, strict=True):
        assert torch.equal(got, expected)


def test_rows_are_matched_by_sample_idx_even_when_views_are_ordered_differently():
    g = torch.Generator().manual_seed(1)
    idx = torch.arange(5)
    perm = torch.randperm(5, generator=g)
    x0, x1 = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    folded = fold_views(torch.cat([x0, x1[perm]]), torch.cat([idx, idx[perm]]))
    assert torch.equal(folded[0], x0)
    assert torch.equal(folded[1], x1)


def test_repeated_sampler_layout_matches_slow_reference():
    g = torch.Generator().manual_seed(2)
    idx = torch.tensor([4, 4, 1, 1, 9, 9, 0, 0])
    x = torch.randn(8, 2, 3, generator=g)
    folded = fold_views(x, idx)
    expected = slow_fold(x, idx)
    assert len(folded) == 2
    for got, want in zip(folded, expected, strict=True):
        assert torch.equal(got, want)
    assert torch.equal(folded[0], x[0::2])
    assert torch.equal(folded[1], x[1::2])


def test_single_view_is_returned_whole():
    x = torch.randn(4, 2)
    (only,) = fold_views(x, [3, 1, 2, 0])
    assert torch.equal(only, x)


def test_inconsistent_sample_idx_says_what_was_expected():
    x = torch.randn(5, 2)
    with pytest.raises(ValueError, match=r"same number of times.*appears 1 time\(s\).*2 time\(s\)"):
        fold_views(x, torch.tensor([0, 1, 2, 0, 1]))


def test_sample_idx_of_the_wrong_length_is_an_error():
    with pytest.raises(ValueError, match=r"expected sample_idx of shape \(4,\)"):
        fold_views(torch.randn(4, 2), torch.arange(3))
