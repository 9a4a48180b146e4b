"""Train / validation splits of one generated time-series task for the pretraining example."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset, Subset


def synthetic_timeseries_split(
    split: str, n_train: int, n_val: int, seed: int = 0, **kwargs: Any
) -> Dataset[Any]:
    """One split of ``spt_data.synthetic_timeseries(n=n_train + n_val, seed=seed, **kwargs)``.

    The classes of ``synthetic_timeseries`` (their frequencies) are drawn from ``seed``, so a
    validation set must come from the same call as the training set, not from another seed.

    Args:
        split: ``"train"`` (the first ``n_train`` series) or ``"val"`` (the next ``n_val``).
        n_train: Training series.
        n_val: Validation series.
        seed: Seed of the generated task.
        **kwargs: Other arguments of ``synthetic_timeseries`` (n_channels, max_length, ...).

    Returns:
        A ``Subset`` of dict samples ``{"timeseries", "mask", "label", "sample_idx"}``.

    Raises:
        ValueError: for a split other than train or val.

    Examples:
        >>> val = synthetic_timeseries_split("val", 32, 8, n_channels=2, max_length=16)
        >>> len(val), tuple(val[0]["timeseries"].shape)
        (8, (16, 2))
    """
    from spt_data import synthetic_timeseries

    if split not in ("train", "val"):
        raise ValueError(f"synthetic_timeseries_split: split={split!r} must be 'train' or 'val'")
    full = synthetic_timeseries(n=n_train + n_val, seed=seed, **kwargs)
    indices = range(n_train) if split == "train" else range(n_train, n_train + n_val)
    return Subset(full, list(indices))
