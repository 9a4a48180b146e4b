"""Masked reconstruction of time steps (MAE of He et al., 2022, on time series)."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn
from typing_extensions import override

import spt_losses
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
class MAEConfig(SSLConfig):
    """Parameters of ``MaskedReconstruction``.

    Attributes:
        mask_ratio: fraction of each series' observed steps hidden from the encoder.
    """

    name: str = "mae"
    mask_ratio: float = 0.15


@register_objective("mae", MAEConfig)
class MaskedReconstruction(BaseSSLObjective):
    """Hide a random ``mask_ratio`` of observed steps, reconstruct their values from the rest.

    Hidden steps are zeroed in the input and flagged to the encoder (which puts its mask token
    there); a linear decoder maps each latent ``(d_model,)`` back to ``(C,)`` and
    ``spt_losses.MAELoss`` averages the squared error over the hidden steps only.

    Metrics: ``mse_visible`` (reconstruction error on visible observed steps) and
    ``hidden_fraction`` (hidden steps / observed steps).
    """

    def __init__(self, encoder: BaseEncoder, config: MAEConfig) -> None:
        super().__init__(encoder, config)
        check_mask_ratio(config.mask_ratio, "ssl.mask_ratio")
        self.mask_ratio = float(config.mask_ratio)
        self.decoder = nn.Linear(encoder.output_dim, encoder.d_input)
        self.loss_fn = spt_losses.MAELoss()

    @override
    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        observed = observed_or_all(x, mask)  # (B, T)
        hidden = sample_hidden_steps(observed, self.mask_ratio)  # (B, T)
        x_in = x.masked_fill(hidden.unsqueeze(-1), 0.0)
        latents = self.encoder(x_in, mask=hidden, padding_mask=~observed)  # (B, T, d_model)
        pred = self.decoder(latents)  # (B, T, C)
        loss = self.loss_fn(pred, x, hidden.to(pred.dtype))
        with torch.no_grad():
            visible = (observed & ~hidden).to(pred.dtype)
            err = (pred - x).pow(2).mean(dim=-1)  # (B, T)
            mse_visible = (err * visible).sum() / visible.sum().clamp_min(1.0)
            hidden_fraction = hidden.sum() / observed.sum().clamp_min(1)
        return loss, {"mse_visible": mse_visible, "hidden_fraction": hidden_fraction.float()}
