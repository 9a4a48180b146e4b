"""The built-in objectives ``mae``, ``contrastive`` and ``jepa``: forward functions over losses."""

from spt.pretrain.objectives.contrastive import (
    augment_view,
    contrastive_views,
    timeseries_contrastive_forward,
)
from spt.pretrain.objectives.jepa import latent_prediction, timeseries_jepa_forward
from spt.pretrain.objectives.mae import masked_reconstruction, timeseries_mae_forward
from spt.pretrain.objectives.objective import (
    Objective,
    check_ratio,
    read_series,
    sample_hidden_steps,
)

__all__ = [
    "Objective",
    "augment_view",
    "check_ratio",
    "contrastive_views",
    "latent_prediction",
    "masked_reconstruction",
    "read_series",
    "sample_hidden_steps",
    "timeseries_contrastive_forward",
    "timeseries_jepa_forward",
    "timeseries_mae_forward",
]
