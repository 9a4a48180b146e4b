"""Fixtures of the pretraining tests: a tiny config and tiny generated time series."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, Subset

from spt_data import synthetic_timeseries

N_CHANNELS = 3
MAX_LENGTH = 16

TINY_CONFIG: dict[str, Any] = {
    "encoder": {
        "name": "transformer",
        "d_input": N_CHANNELS,
        "d_model": 16,
        "n_heads": 2,
        "n_layers": 1,
        "d_ff": 32,
        "dropout": 0.0,
    },
    "ssl": {"name": "mae", "mask_ratio": 0.3},
    "optimizer": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.01},
}


@pytest.fixture(autouse=True)
def one_torch_thread() -> Any:
    """Run these tiny models on one thread: on a shared 2-core machine a second intra-op
    thread makes each step tens of times slower, not faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_config() -> Callable[..., dict[str, Any]]:
    """``make_config(ssl=..., encoder=..., optimizer=..., scheduler=...)``: a fresh tiny config.

    A section given as a dict replaces the default one; ``encoder`` and ``ssl`` given as a
    string pick that registered name with its default parameters.
    """

    def make(**sections: Any) -> dict[str, Any]:
        config = copy.deepcopy(TINY_CONFIG)
        for key, value in sections.items():
            if key == "encoder" and isinstance(value, str):
                value = {"name": value, "d_input": N_CHANNELS, "d_model": 16}
            elif key == "ssl" and isinstance(value, str):
                value = {"name": value}
            config[key] = value
        return config

    return make


@pytest.fixture(scope="session")
def series_dataset() -> Any:
    """80 generated series (B, 16, 3) with padding masks and 2 classes."""
    return synthetic_timeseries(
        n=80, n_channels=N_CHANNELS, max_length=MAX_LENGTH, num_classes=2, seed=0
    )


@pytest.fixture
def loaders(series_dataset: Any) -> tuple[DataLoader[Any], DataLoader[Any]]:
    """Train (64 series, 4 batches of 16) and validation (16 series, 1 batch) loaders."""
    train = DataLoader(Subset(series_dataset, range(64)), batch_size=16, shuffle=False)
    val = DataLoader(Subset(series_dataset, range(64, 80)), batch_size=16)
    return train, val


@pytest.fixture
def batch(series_dataset: Any) -> dict[str, Any]:
    """One collated batch of 8 series."""
    loader = DataLoader(Subset(series_dataset, range(8)), batch_size=8)
    return dict(next(iter(loader)))
