"""What an objective is (a forward function and its components) and the steps it hides."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["Objective", "check_ratio", "read_series", "sample_hidden_steps"]


@dataclasses.dataclass(frozen=True)
class Objective:
    """An SSL objective as ``SSLPretrainModule`` runs it.

    Attributes:
        forward: ``forward(self, batch, stage) -> dict`` with ``loss`` and scalar metrics,
            reading the module's components (``self.encoder``, heads, losses, settings).
        components: the modules and settings it reads, set on the module by name; an
            ``encoder`` entry replaces the encoder (JEPA wraps it in an EMA pair).
    """

    forward: Callable[..., dict[str, Any]]
    components: dict[str, Any]


def check_ratio(value: float, where: str) -> float:
    """``value`` as a float; ValueError unless ``0 < value < 1``."""
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{where}={value!r} must be in (0, 1), e.g. {where}=0.3")
    return float(value)


def read_series(batch: Any, method: str) -> tuple[Tensor, Tensor]:
    """``(timeseries (B, T, C), observed (B, T) bool)`` of a batch dict.

    ``mask`` is True where a step is observed (``spt_data.synthetic_timeseries``); a batch
    without one is all observed.
    """
    if not isinstance(batch, dict) or "timeseries" not in batch:
        raise ValueError(
            f"{method}: batch must be a dict with 'timeseries' (B, T, C) and optionally 'mask' "
            f"(B, T); got {type(batch).__name__}"
            + (f" with keys {sorted(batch)}" if isinstance(batch, dict) else "")
        )
    x = batch["timeseries"]
    mask = batch.get("mask")
    if mask is None:
        return x, torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    return x, mask.to(torch.bool)


def sample_hidden_steps(observed: Tensor, ratio: float) -> Tensor:
    """Choose ``round(ratio * n_observed)`` (at least one) observed steps per row, uniformly.

    Args:
        observed: ``(B, T)`` bool, True where a step is observed.
        ratio: fraction of each row's observed steps to hide.

    Returns:
        ``(B, T)`` bool, True at the hidden steps (always a subset of ``observed``).
    """
    n_obs = observed.sum(dim=1)  # (B,)
    k = (n_obs.to(torch.float32) * ratio).round().clamp_min(1).to(n_obs.dtype)
    k = torch.minimum(k, n_obs)
    scores = torch.rand(observed.shape, device=observed.device)
    scores = scores.masked_fill(~observed, 2.0)  # unobserved steps sort last
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, T) rank of each step
    return rank < k.unsqueeze(1)
