"""MultiViewTransform: a list of view dicts that the default collate batches per view."""

import pytest
import torch
from torch.utils.data import DataLoader

from spt_data import DictDataset, transforms


def dataset(transform, n=8):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 3, 8, 8, generator=g)
    return DictDataset({"image": images, "label": list(range(n))}, transform=transform)


def shift(amount):
    return transforms.DictTransform(lambda x: x + amount)


def test_list_form_makes_one_view_per_transform_each_from_the_original():
    t = transforms.MultiViewTransform([shift(1.0), shift(2.0), shift(3.0)])
    s = {"image": torch.zeros(2), "label": 4, "sample_idx": 9}
    views = t(s)
    assert [float(v["image"][0]) for v in views] == [1.0, 2.0, 3.0]
    assert all(v["label"] == 4 and v["sample_idx"] == 9 for v in views)
    assert torch.equal(s["image"], torch.zeros(2))


def test_count_form_repeats_one_transform_with_independent_draws():
    torch.manual_seed(0)
    t = transforms.MultiViewTransform(
        transforms.RandomResizedCrop((4, 4), scale=(0.1, 0.3)), n_views=4
    )
    views = t({"image": torch.rand(3, 16, 16), "label": 0, "sample_idx": 0})
    assert len(views) == 4
    assert t.n_views == 4
    assert not all(torch.equal(views[0]["image"], v["image"]) for v in views[1:])


def test_default_collate_gives_a_list_of_batched_view_dicts():
    t = transforms.MultiViewTransform([shift(0.0), shift(10.0)])
    batch = next(iter(DataLoader(dataset(t), batch_size=4, shuffle=False)))
    assert isinstance(batch, list)
    assert len(batch) == 2
    for view in batch:
        assert view["image"].shape == (4, 3, 8, 8)
        assert view["sample_idx"].tolist() == [0, 1, 2, 3]
        assert view["label"].tolist() == [0, 1, 2, 3]
    assert torch.allclose(batch[1]["image"] - batch[0]["image"], torch.full((4, 3, 8, 8), 10.0))


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((transforms.RGB(),), {}, ValueError, "pass n_views"),
        (([transforms.RGB()] * 2,), {"n_views": 3}, ValueError, "n_views=3 but 2 transforms"),
        (([],), {}, ValueError, "empty"),
        ((transforms.RGB(),), {"n_views": 0}, ValueError, "at least 1"),
        (([transforms.RGB(), 3],), {}, TypeError, "transform 1 must be callable"),
        ((5,), {"n_views": 2}, TypeError, "list of callables"),
    ],
)
def test_bad_arguments_are_clear_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        transforms.MultiViewTransform(*args, **kwargs)
