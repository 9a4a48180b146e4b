"""Masked reconstruction of time steps (MAE of He et al., 2022, on time series)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

import spt_losses
from spt.pretrain.encoders import TimeSeriesEncoder
from spt.pretrain.objectives.objective import (
    Objective,
    check_ratio,
    read_series,
    sample_hidden_steps,
)
from spt.pretrain.registry import register_objective

__all__ = ["masked_reconstruction", "timeseries_mae_forward"]


def timeseries_mae_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """Hide a random ``mask_ratio`` of observed steps, reconstruct their values from the rest.

    Hidden steps are zeroed in the input and replaced by the encoder's mask token; the
    decoder maps each token ``(D,)`` back to ``(C,)`` and the loss averages the squared error
    over the hidden steps only.

    Components: ``self.encoder`` (``tokens(x, mask, hidden)``), ``self.decoder``
    (``(B, T, D) -> (B, T, C)``), ``self.mae_loss`` (``spt_losses.MAELoss``),
    ``self.mask_ratio``.

    Returns:
        ``{"loss", "mse_visible", "hidden_fraction"}``: the reconstruction error on hidden
        steps, the error on visible observed steps and the fraction of observed steps hidden.
    """
    x, observed = read_series(batch, "timeseries_mae_forward")  # (B, T, C), (B, T)
    hidden = sample_hidden_steps(observed, self.mask_ratio)  # (B, T)
    x_in = x.masked_fill(hidden.unsqueeze(-1), 0.0)
    tokens, _ = self.encoder.tokens(x_in, observed, hidden=hidden)  # (B, T, D)
    pred = self.decoder(tokens)  # (B, T, C)
    loss = self.mae_loss(pred, x, hidden.to(pred.dtype))
    with torch.no_grad():
        visible = (observed & ~hidden).to(pred.dtype)
        err = (pred - x).pow(2).mean(dim=-1)  # (B, T)
        mse_visible = (err * visible).sum() / visible.sum().clamp_min(1.0)
        hidden_fraction = hidden.sum() / observed.sum().clamp_min(1)
    return {"loss": loss, "mse_visible": mse_visible, "hidden_fraction": hidden_fraction.float()}


@register_objective("mae")
def masked_reconstruction(encoder: TimeSeriesEncoder, mask_ratio: float = 0.15) -> Objective:
    """The ``mae`` objective: a linear decoder and ``spt_losses.MAELoss`` on hidden steps.

    Args:
        encoder: the encoder being pretrained (``n_channels``, ``embed_dim``).
        mask_ratio: fraction of each series' observed steps hidden from the encoder.
    """
    return Objective(
        timeseries_mae_forward,
        {
            "decoder": nn.Linear(encoder.embed_dim, encoder.n_channels),
            "mae_loss": spt_losses.MAELoss(),
            "mask_ratio": check_ratio(mask_ratio, "ssl.mask_ratio"),
        },
    )
