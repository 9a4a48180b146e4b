"""Contrastive pretraining on two augmented views of each series (SimCLR on time series)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import spt_losses
from spt.backbone.timeseries import masked_mean
from spt.pretrain.encoders import TimeSeriesEncoder
from spt.pretrain.objectives.objective import Objective, read_series
from spt.pretrain.registry import register_objective

__all__ = ["augment_view", "contrastive_views", "timeseries_contrastive_forward"]


def augment_view(
    x: Tensor, observed: Tensor, jitter_std: float, scale_std: float, mask_ratio: float
) -> tuple[Tensor, Tensor]:
    """One random view of ``x`` (B, T, C): channel scaling, jitter, hidden steps zeroed.

    Returns:
        The view ``(B, T, C)`` and its hidden steps ``(B, T)`` (a subset of ``observed``).
    """
    b, _, c = x.shape
    scale = 1.0 + scale_std * torch.randn(b, 1, c, device=x.device, dtype=x.dtype)
    view = x * scale + jitter_std * torch.randn_like(x)
    hidden = observed & (torch.rand(observed.shape, device=x.device) < mask_ratio)
    return view.masked_fill(hidden.unsqueeze(-1), 0.0), hidden


def timeseries_contrastive_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """Two augmented views per series, pooled over observed steps, projected, NT-Xent.

    Components: ``self.encoder``, ``self.projector`` (``(B, D) -> (B, K)``),
    ``self.ntxent_loss`` (``spt_losses.NTXEntLoss``), ``self.jitter_std``,
    ``self.scale_std`` and ``self.mask_ratio`` (see :func:`augment_view`).

    Returns:
        ``{"loss", "positive_cosine", "top1"}``: the mean cosine similarity of the two views'
        projections and the fraction of view-1 rows whose nearest view-2 row is their own.
    """
    x, observed = read_series(batch, "timeseries_contrastive_forward")
    settings = (self.jitter_std, self.scale_std, self.mask_ratio)
    v1, h1 = augment_view(x, observed, *settings)
    v2, h2 = augment_view(x, observed, *settings)
    z1 = _project(self, v1, observed, h1)  # (B, K)
    z2 = _project(self, v2, observed, h2)
    loss = self.ntxent_loss(z1, z2)
    with torch.no_grad():
        sim = F.normalize(z1, dim=-1) @ F.normalize(z2, dim=-1).T  # (B, B)
        target = torch.arange(sim.shape[0], device=sim.device)
        top1 = (sim.argmax(dim=1) == target).float().mean()
    return {"loss": loss, "positive_cosine": sim.diagonal().mean(), "top1": top1}


def _project(self: Any, view: Tensor, observed: Tensor, hidden: Tensor) -> Tensor:
    tokens, _ = self.encoder.tokens(view, observed, hidden=hidden)  # (B, T, D)
    z: Tensor = self.projector(masked_mean(tokens, observed & ~hidden))
    return z


@register_objective("contrastive")
def contrastive_views(
    encoder: TimeSeriesEncoder,
    temperature: float = 0.2,
    proj_dim: int = 64,
    jitter_std: float = 0.1,
    scale_std: float = 0.1,
    mask_ratio: float = 0.2,
) -> Objective:
    """The ``contrastive`` objective: an MLP projector and ``spt_losses.NTXEntLoss``.

    Args:
        encoder: the encoder being pretrained (``embed_dim``).
        temperature: NT-Xent temperature.
        proj_dim: output width of the projection head.
        jitter_std: std of additive Gaussian noise (in units of the series).
        scale_std: std of the per-channel multiplicative scaling around 1.
        mask_ratio: probability that an observed step is hidden in a view.
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"ssl.mask_ratio={mask_ratio!r} must be in [0, 1)")
    d = encoder.embed_dim
    projector = nn.Sequential(nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, proj_dim))
    return Objective(
        timeseries_contrastive_forward,
        {
            "projector": projector,
            "ntxent_loss": spt_losses.NTXEntLoss(temperature=temperature),
            "jitter_std": float(jitter_std),
            "scale_std": float(scale_std),
            "mask_ratio": float(mask_ratio),
        },
    )
