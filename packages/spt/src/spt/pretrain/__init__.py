"""Config-driven SSL pretraining: ``SSLPretrainModule(config)`` over spt's own pieces.

Encoders are ``spt.backbone`` classes (``transformer``, ``gru``), objectives are forward
functions over ``spt_losses`` (``mae``, ``contrastive``, ``jepa``; JEPA's target through
``spt.ema.TeacherStudent``), optimizers are ``spt_optim`` specs. A registration decorator
adds an encoder or an objective by name.
"""

from spt.pretrain.data import synthetic_timeseries_split
from spt.pretrain.encoders import build_encoder, gru_encoder, transformer_encoder
from spt.pretrain.module import SSLPretrainModule, load_encoder
from spt.pretrain.objectives import (
    Objective,
    contrastive_views,
    latent_prediction,
    masked_reconstruction,
    read_series,
    sample_hidden_steps,
    timeseries_contrastive_forward,
    timeseries_jepa_forward,
    timeseries_mae_forward,
)
from spt.pretrain.optim import optimizer_names, scheduler_names
from spt.pretrain.probe import (
    LinearProbeEvaluation,
    extract_features,
    linear_probe_accuracy,
    probe_against_random_init,
)
from spt.pretrain.registry import (
    ENCODERS,
    OBJECTIVES,
    Registry,
    encoder_names,
    objective_names,
    register_encoder,
    register_objective,
)

__all__ = [
    "ENCODERS",
    "OBJECTIVES",
    "LinearProbeEvaluation",
    "Objective",
    "Registry",
    "SSLPretrainModule",
    "build_encoder",
    "contrastive_views",
    "encoder_names",
    "extract_features",
    "gru_encoder",
    "latent_prediction",
    "linear_probe_accuracy",
    "load_encoder",
    "masked_reconstruction",
    "objective_names",
    "optimizer_names",
    "probe_against_random_init",
    "read_series",
    "register_encoder",
    "register_objective",
    "sample_hidden_steps",
    "scheduler_names",
    "synthetic_timeseries_split",
    "timeseries_contrastive_forward",
    "timeseries_jepa_forward",
    "timeseries_mae_forward",
    "transformer_encoder",
]
