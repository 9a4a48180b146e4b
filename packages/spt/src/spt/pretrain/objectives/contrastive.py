"""Contrastive pretraining on two augmented views of each series (SimCLR on time series)."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from typing_extensions import override

import spt_losses
from spt.pretrain.encoders.base import BaseEncoder, masked_mean
from spt.pretrain.objectives.base import BaseSSLObjective, SSLConfig, observed_or_all
from spt.pretrain.registry import register_objective


@dataclasses.dataclass
class ContrastiveConfig(SSLConfig):
    """Parameters of ``ContrastiveViews``.

    Attributes:
        temperature: NT-Xent temperature.
        proj_dim: output width of the projection head.
        jitter_std: std of additive Gaussian noise (in units of the series).
        scale_std: std of the per-channel multiplicative scaling around 1.
        mask_ratio: probability that an observed step is hidden in a view.
    """

    name: str = "contrastive"
    temperature: float = 0.2
    proj_dim: int = 64
    jitter_std: float = 0.1
    scale_std: float = 0.1
    mask_ratio: float = 0.2


@register_objective("contrastive", ContrastiveConfig)
class ContrastiveViews(BaseSSLObjective):
    """Two augmented views per series (jitter, channel scaling, random step masking), pooled over
    observed steps, projected by an MLP and pulled together by ``spt_losses.NTXEntLoss``
    (Chen et al., 2020).

    Metrics: ``positive_cosine`` (mean cosine similarity of the two views' projections) and
    ``top1`` (fraction of view-1 rows whose nearest view-2 row is their own sample).
    """

    def __init__(self, encoder: BaseEncoder, config: ContrastiveConfig) -> None:
        super().__init__(encoder, config)
        if not 0.0 <= config.mask_ratio < 1.0:
            raise ValueError(f"ssl.mask_ratio={config.mask_ratio!r} must be in [0, 1)")
        d = encoder.output_dim
        self.projector = nn.Sequential(
            nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, config.proj_dim)
        )
        self.loss_fn = spt_losses.NTXEntLoss(temperature=config.temperature)
        self.cfg = config

    def augment(self, x: Tensor, observed: Tensor) -> tuple[Tensor, Tensor]:
        """One random view of ``x`` (B, T, C): returns the view and its hidden steps (B, T)."""
        b, _, c = x.shape
        scale = 1.0 + self.cfg.scale_std * torch.randn(b, 1, c, device=x.device, dtype=x.dtype)
        view = x * scale + self.cfg.jitter_std * torch.randn_like(x)
        hidden = observed & (torch.rand(observed.shape, device=x.device) < self.cfg.mask_ratio)
        return view.masked_fill(hidden.unsqueeze(-1), 0.0), hidden

    def embed(self, x: Tensor, observed: Tensor, hidden: Tensor) -> Tensor:
        """Projected, pooled embedding (B, proj_dim) of one view."""
        latents = self.encoder(x, mask=hidden, padding_mask=~observed)  # (B, T, d_model)
        z: Tensor = self.projector(masked_mean(latents, observed & ~hidden))
        return z

    @override
    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        observed = observed_or_all(x, mask)
        v1, h1 = self.augment(x, observed)
        v2, h2 = self.augment(x, observed)
        z1 = self.embed(v1, observed, h1)  # (B, proj_dim)
        z2 = self.embed(v2, observed, h2)
        loss = self.loss_fn(z1, z2)
        with torch.no_grad():
            n1, n2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
            sim = n1 @ n2.T  # (B, B)
            positive_cosine = sim.diagonal().mean()
            target = torch.arange(sim.shape[0], device=sim.device)
            top1 = (sim.argmax(dim=1) == target).float().mean()
        return loss, {"positive_cosine": positive_cosine, "top1": top1}
