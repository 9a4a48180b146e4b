"""synthetic_timeseries(): padded series with masks, deterministic from the seed."""

import pytest
import torch
from torch.utils.data import DataLoader

from spt_data import synthetic_timeseries


def test_shapes_types_and_balanced_labels():
    ds = synthetic_timeseries(n=40, n_channels=3, max_length=32, num_classes=4)
    sample = ds[0]
    assert sample["timeseries"].shape == (32, 3)
    assert sample["timeseries"].dtype == torch.float32
    assert sample["mask"].shape == (32,)
    assert sample["mask"].dtype == torch.bool
    assert isinstance(sample["label"], int)
    assert sample["sample_idx"] == 0
    assert sorted(ds.columns["label"]) == sorted([i % 4 for i in range(40)])


def test_mask_is_an_observed_prefix_and_padding_is_zero():
    ds = synthetic_timeseries(n=30, max_length=40, min_length=10)
    lengths = ds.columns["mask"].sum(dim=1)
    assert int(lengths.min()) >= 10
    assert int(lengths.max()) <= 40
    assert len(set(lengths.tolist())) > 3
    for series, mask, length in zip(
        ds.columns["timeseries"], ds.columns["mask"], lengths, strict=True
    ):
        assert mask[:length].all()
        assert not mask[length:].any()
        assert (series[length:] == 0).all()
        assert (series[:length] != 0).any()


def test_fixed_length_masks_everything_observed():
    ds = synthetic_timeseries(n=5, max_length=16, variable_length=False)
    assert ds.columns["mask"].all()


def test_deterministic_from_seed():
    a, b = synthetic_timeseries(n=8, seed=3), synthetic_timeseries(n=8, seed=3)
    c = synthetic_timeseries(n=8, seed=4)
    assert torch.equal(a.columns["timeseries"], b.columns["timeseries"])
    assert torch.equal(a.columns["mask"], b.columns["mask"])
    assert not torch.equal(a.columns["timeseries"], c.columns["timeseries"])


def test_classes_differ_in_spectrum():
    ds = synthetic_timeseries(n=200, n_channels=1, max_length=64, num_classes=2, noise=0.1)
    spectra = torch.fft.rfft(ds.columns["timeseries"][..., 0] * ds.columns["mask"], dim=1).abs()
    labels = torch.tensor(ds.columns["label"])
    mean0, mean1 = spectra[labels == 0].mean(0), spectra[labels == 1].mean(0)
    assert (mean0 - mean1).abs().max() > 3 * spectra.std(0).mean() / (100**0.5)


def test_default_collate_batches_padded_series():
    batch = next(iter(DataLoader(synthetic_timeseries(n=8, max_length=20), batch_size=4)))
    assert batch["timeseries"].shape == (4, 20, 3)
    assert batch["mask"].shape == (4, 20)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n must be"),
        ({"max_length": 1}, "max_length must be"),
        ({"max_length": 10, "min_length": 11}, "min_length must be in"),
        ({"ar_coefficient": 1.0}, "ar_coefficient"),
        ({"noise": -1.0}, "noise"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic_timeseries(**kwargs)
