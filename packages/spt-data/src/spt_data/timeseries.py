"""Generated multivariate time series with labels, for examples and tests."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from spt_data.datasets import DictDataset, Transform

__all__ = ["synthetic_timeseries"]

N_COMPONENTS = 2


def _positive(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"synthetic_timeseries: {name} must be an int >= {minimum}, got {value!r}")
    return value


def synthetic_timeseries(
    n: int = 512,
    n_channels: int = 3,
    max_length: int = 128,
    num_classes: int = 4,
    seed: int = 0,
    variable_length: bool = True,
    min_length: int | None = None,
    noise: float = 0.3,
    ar_coefficient: float = 0.8,
    transform: Transform | None = None,
    *,
    gpu_transform: Any = None,
) -> DictDataset:
    """Labelled multivariate series: class-specific mixed sinusoids plus AR(1) noise.

    Each class has its own frequencies per channel (``N_COMPONENTS`` sinusoids, drawn once
    from ``seed``); a sample mixes them with a random phase and amplitude and adds
    autoregressive noise ``e[t] = ar_coefficient * e[t-1] + noise * N(0, 1)``. With
    ``variable_length`` each series has a random length in ``[min_length, max_length]`` and is
    zero-padded to ``max_length``; ``mask`` is ``True`` where the series is observed. Labels
    are balanced. Everything is a function of ``seed``.

    Args:
        n: Number of series.
        n_channels: Channels per time step.
        max_length: Padded length ``T``.
        num_classes: Number of classes.
        seed: Seed of the generator.
        variable_length: Draw a length per series; otherwise all have ``max_length``.
        min_length: Shortest length when ``variable_length`` (default ``max_length // 2``).
        noise: Standard deviation of the AR(1) innovations.
        ar_coefficient: AR(1) coefficient, in ``(-1, 1)``.
        transform: Callable applied to each sample dict.
        gpu_transform: Stored on the dataset for ``spt_module``.

    Returns:
        A :class:`~spt_data.DictDataset` of ``{"timeseries": float32 (T, C), "mask": bool (T,),
        "label": int, "sample_idx": int}``.

    Raises:
        ValueError: a size is not a positive int, ``min_length`` is outside
            ``[1, max_length]``, ``noise`` is negative, or ``|ar_coefficient| >= 1``.

    Examples:
        >>> ds = synthetic_timeseries(n=8, n_channels=2, max_length=16, num_classes=2)
        >>> tuple(ds[0]["timeseries"].shape), ds[0]["mask"].dtype
        ((16, 2), torch.bool)
    """
    n = _positive("n", n)
    n_channels = _positive("n_channels", n_channels)
    max_length = _positive("max_length", max_length, 2)
    num_classes = _positive("num_classes", num_classes)
    if min_length is None:
        min_length = max(1, max_length // 2)
    if isinstance(min_length, bool) or not isinstance(min_length, int):
        raise ValueError(f"synthetic_timeseries: min_length must be an int, got {min_length!r}")
    if not 1 <= min_length <= max_length:
        raise ValueError(
            f"synthetic_timeseries: min_length must be in [1, max_length={max_length}], "
            f"got {min_length}"
        )
    if noise < 0:
        raise ValueError(f"synthetic_timeseries: noise must be >= 0, got {noise}")
    if not -1.0 < ar_coefficient < 1.0:
        raise ValueError(
            f"synthetic_timeseries: ar_coefficient must be in (-1, 1) for a stationary AR(1), "
            f"got {ar_coefficient}"
        )
    rng = np.random.default_rng(seed)
    # Cycles over max_length per class, channel and component: (K, C, M).
    cycles = rng.uniform(1.0, 12.0, size=(num_classes, n_channels, N_COMPONENTS))
    labels = rng.permutation(np.arange(n) % num_classes)
    t = np.arange(max_length) / max_length  # (T,)
    phase = rng.uniform(0.0, 2.0 * math.pi, size=(n, 1, n_channels, N_COMPONENTS))
    amplitude = rng.uniform(0.5, 1.5, size=(n, 1, n_channels, N_COMPONENTS))
    angle = 2.0 * math.pi * cycles[labels][:, None] * t[None, :, None, None] + phase
    signal = (amplitude * np.sin(angle)).sum(axis=-1)  # (N, T, C)
    innovations = rng.normal(0.0, noise, size=(n, max_length, n_channels))
    ar = np.empty_like(innovations)
    ar[:, 0] = innovations[:, 0] / math.sqrt(1.0 - ar_coefficient**2)
    for step in range(1, max_length):
        ar[:, step] = ar_coefficient * ar[:, step - 1] + innovations[:, step]
    series = signal + ar
    if variable_length:
        lengths = rng.integers(min_length, max_length + 1, size=n)
    else:
        lengths = np.full(n, max_length)
    mask = np.arange(max_length)[None, :] < lengths[:, None]  # (N, T)
    series = np.where(mask[:, :, None], series, 0.0)
    data = {
        "timeseries": torch.from_numpy(series.astype(np.float32)),
        "mask": torch.from_numpy(mask),
        "label": [int(y) for y in labels],
    }
    return DictDataset(data, transform=transform, gpu_transform=gpu_transform)
