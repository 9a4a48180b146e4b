"""The SSL objective interface: an encoder plus the heads and loss of one pretraining method."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor, nn

from spt.pretrain._config import build_dataclass, to_plain
from spt.pretrain.encoders.base import BaseEncoder
from spt.pretrain.registry import OBJECTIVES


@dataclasses.dataclass
class SSLConfig:
    """Parameters every objective takes.

    Attributes:
        name: registry name of the objective.
    """

    name: str = ""


class BaseSSLObjective(nn.Module):
    """Base class of registered SSL objectives.

    Subclasses build their heads in ``__init__(encoder, config)`` and implement
    ``forward(x, mask) -> (loss, metrics)``:

    - ``x``: ``(B, T, C)`` float series.
    - ``mask``: ``(B, T)`` bool, True where a step is observed (False = padding or missing),
      the convention of ``spt_data.synthetic_timeseries``; None means all observed.
    - ``loss``: scalar tensor; ``metrics``: dict of scalar tensors logged as ``train/{key}``
      and ``val/{key}``.

    ``on_optimizer_step()`` runs after every optimizer step (EMA targets update there).

    Args:
        encoder: the encoder being pretrained (kept as ``self.encoder``).
        config: the objective's config dataclass.
    """

    def __init__(self, encoder: BaseEncoder, config: SSLConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute ``(loss, metrics)`` on a batch; see the class docstring."""
        raise NotImplementedError

    def on_optimizer_step(self) -> None:
        """Hook called after each optimizer step; no-op by default."""


def check_mask_ratio(value: float, where: str) -> None:
    """Raise ValueError unless ``0 < value < 1``."""
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{where}={value!r} must be in (0, 1), e.g. {where}=0.3")


def observed_or_all(x: Tensor, mask: Tensor | None) -> Tensor:
    """The observed-steps mask ``(B, T)`` bool, all True when ``mask`` is None."""
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    return mask.to(torch.bool)


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


def objective_config(config: Any) -> SSLConfig:
    """Turn an ``ssl`` section into its config dataclass (errors name the bad parameter)."""
    if isinstance(config, SSLConfig):
        OBJECTIVES.get(config.name)
        return config
    params = to_plain(config)
    _, config_cls = OBJECTIVES.get(str(params.get("name", "")))
    result: SSLConfig = build_dataclass(config_cls, params, f"ssl objective {params['name']!r}")
    return result


def build_objective(encoder: BaseEncoder, config: Any) -> BaseSSLObjective:
    """Build the registered objective that ``config.name`` selects, around ``encoder``.

    Args:
        encoder: the encoder to pretrain.
        config: the ``ssl`` section (mapping, dataclass or OmegaConf node with ``name``).

    Returns:
        The objective module (it holds ``encoder`` as ``.encoder``).
    """
    cfg = objective_config(config)
    cls, _ = OBJECTIVES.get(cfg.name)
    objective: BaseSSLObjective = cls(encoder, cfg)
    return objective
