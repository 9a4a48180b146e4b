"""Joint-embedding predictive pretraining on time series (JEPA of Assran et al., 2023)."""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

import spt_losses
from spt.ema import TeacherStudent
from spt.pretrain.encoders import TimeSeriesEncoder
from spt.pretrain.objectives.objective import (
    Objective,
    check_ratio,
    read_series,
    sample_hidden_steps,
)
from spt.pretrain.registry import register_objective

__all__ = ["latent_prediction", "timeseries_jepa_forward"]


def timeseries_jepa_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """Predict the EMA target encoder's latents of hidden steps from the context latents.

    The context encoder (the student, being pretrained) sees the series with hidden steps
    replaced by its mask token; the target encoder (the EMA teacher, never trained by
    gradient) sees the whole series. A per-step predictor maps context latents to
    layer-normalised target latents; the loss is their squared error over hidden steps.

    Components: ``self.encoder`` (an :class:`spt.ema.TeacherStudent` pair of encoders),
    ``self.predictor`` (``(B, T, D) -> (B, T, D)``), ``self.jepa_loss``
    (``spt_losses.MAELoss``), ``self.mask_ratio``.

    Returns:
        ``{"loss", "target_std", "ema_momentum"}``: the mean per-dimension std of the target
        latents (near 0 means collapse) and the momentum of the next teacher update.
    """
    x, observed = read_series(batch, "timeseries_jepa_forward")
    pair: TeacherStudent = self.encoder
    hidden = sample_hidden_steps(observed, self.mask_ratio)  # (B, T)
    with torch.no_grad():
        target, _ = cast(TimeSeriesEncoder, pair.teacher).tokens(x, observed)  # (B, T, D)
        target = F.layer_norm(target, target.shape[-1:])
    x_in = x.masked_fill(hidden.unsqueeze(-1), 0.0)
    context, _ = cast(TimeSeriesEncoder, pair.student).tokens(x_in, observed, hidden=hidden)
    pred = self.predictor(context)  # (B, T, D)
    loss = self.jepa_loss(pred, target, hidden.to(pred.dtype))
    with torch.no_grad():
        target_std = target[observed].std(dim=0).mean()
    momentum = torch.tensor(pair.momentum, device=x.device)
    return {"loss": loss, "target_std": target_std, "ema_momentum": momentum}


@register_objective("jepa")
def latent_prediction(
    encoder: TimeSeriesEncoder,
    mask_ratio: float = 0.5,
    ema_momentum: float = 0.99,
    predictor_hidden: int = 128,
) -> Objective:
    """The ``jepa`` objective: an MLP predictor and a constant-momentum EMA target encoder.

    The target moves after every optimizer step (``spt.ema.attach_teacher_updates``, called
    by ``SSLPretrainModule`` at train start).

    Args:
        encoder: the encoder being pretrained (``embed_dim``).
        mask_ratio: fraction of observed steps hidden from the context encoder.
        ema_momentum: momentum of the target encoder's exponential moving average.
        predictor_hidden: hidden width of the per-step predictor MLP.
    """
    ratio = check_ratio(mask_ratio, "ssl.mask_ratio")
    if not 0.0 <= ema_momentum <= 1.0:
        raise ValueError(f"ssl.ema_momentum={ema_momentum!r} must be in [0, 1]")
    d = encoder.embed_dim
    predictor = nn.Sequential(
        nn.Linear(d, predictor_hidden), nn.GELU(), nn.Linear(predictor_hidden, d)
    )
    student = cast(nn.Module, encoder)
    pair = TeacherStudent(student, base_momentum=ema_momentum, final_momentum=ema_momentum)
    return Objective(
        timeseries_jepa_forward,
        {
            "encoder": pair,
            "predictor": predictor,
            "jepa_loss": spt_losses.MAELoss(),
            "mask_ratio": ratio,
        },
    )
