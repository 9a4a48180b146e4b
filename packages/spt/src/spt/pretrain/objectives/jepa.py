"""Joint-embedding predictive pretraining on time series (JEPA of Assran et al., 2023)."""

from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from typing_extensions import override

from spt.ema import ema_update_
from spt.pretrain.encoders.base import BaseEncoder
from spt.pretrain.objectives.base import (
    BaseSSLObjective,
    SSLConfig,
    check_mask_ratio,
    observed_or_all,
    sample_hidden_steps,
)
from spt.pretrain.registry import register_objective


@dataclasses.dataclass
class JEPAConfig(SSLConfig):
    """Parameters of ``LatentPrediction``.

    Attributes:
        mask_ratio: fraction of observed steps hidden from the context encoder.
        ema_momentum: momentum of the target encoder's exponential moving average.
        predictor_hidden: hidden width of the per-step predictor MLP.
    """

    name: str = "jepa"
    mask_ratio: float = 0.5
    ema_momentum: float = 0.99
    predictor_hidden: int = 128


@register_objective("jepa", JEPAConfig)
class LatentPrediction(BaseSSLObjective):
    """Predict the target encoder's latents of hidden steps from the context encoder's latents.

    The context encoder (the one being pretrained) sees the series with hidden steps replaced by
    its mask token; the target encoder, an EMA copy updated after every optimizer step and never
    trained by gradient, sees the whole series. A per-step MLP predictor maps context latents to
    layer-normalised target latents; the loss is the mean squared error over hidden steps.

    Metrics: ``target_std`` (mean per-dimension std of target latents; near 0 means collapse)
    and ``ema_momentum``.
    """

    def __init__(self, encoder: BaseEncoder, config: JEPAConfig) -> None:
        super().__init__(encoder, config)
        check_mask_ratio(config.mask_ratio, "ssl.mask_ratio")
        if not 0.0 <= config.ema_momentum <= 1.0:
            raise ValueError(f"ssl.ema_momentum={config.ema_momentum!r} must be in [0, 1]")
        self.mask_ratio = float(config.mask_ratio)
        self.momentum = float(config.ema_momentum)
        d = encoder.output_dim
        self.predictor = nn.Sequential(
            nn.Linear(d, config.predictor_hidden),
            nn.GELU(),
            nn.Linear(config.predictor_hidden, d),
        )
        self.target_encoder = copy.deepcopy(encoder)
        self.target_encoder.requires_grad_(False)

    @override
    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        observed = observed_or_all(x, mask)
        hidden = sample_hidden_steps(observed, self.mask_ratio)  # (B, T)
        with torch.no_grad():
            self.target_encoder.train(self.training)
            target = self.target_encoder(x, padding_mask=~observed)  # (B, T, d)
            target = F.layer_norm(target, target.shape[-1:])
        context = self.encoder(
            x.masked_fill(hidden.unsqueeze(-1), 0.0), mask=hidden, padding_mask=~observed
        )
        pred = self.predictor(context)  # (B, T, d)
        err = (pred - target).pow(2).mean(dim=-1)  # (B, T)
        weights = hidden.to(err.dtype)
        loss = (err * weights).sum() / weights.sum().clamp_min(1.0)
        with torch.no_grad():
            target_std = target[observed].std(dim=0).mean()
        momentum = torch.tensor(self.momentum, device=x.device)
        return loss, {"target_std": target_std, "ema_momentum": momentum}

    @override
    @torch.no_grad()
    def on_optimizer_step(self) -> None:
        """Move the target encoder towards the context encoder: t <- m t + (1 - m) c."""
        ema_update_(self.target_encoder, self.encoder, self.momentum)
