"""Config-driven SSL pretraining (seed 003's ``SSLPretrainModule``): encoder and objective
registries, time-series encoders, MAE / contrastive / JEPA objectives and a linear probe.
"""

from spt.pretrain.data import synthetic_timeseries_split
from spt.pretrain.encoders import (
    BaseEncoder,
    EncoderConfig,
    GRUEncoder,
    GRUEncoderConfig,
    TimeSeriesTransformerEncoder,
    TransformerEncoderConfig,
    build_encoder,
    masked_mean,
)
from spt.pretrain.module import SSLPretrainModule, load_encoder
from spt.pretrain.objectives import (
    BaseSSLObjective,
    ContrastiveConfig,
    ContrastiveViews,
    JEPAConfig,
    LatentPrediction,
    MAEConfig,
    MaskedReconstruction,
    SSLConfig,
    build_objective,
)
from spt.pretrain.optim_spec import optimizer_names, scheduler_names
from spt.pretrain.probe import LinearProbeEvaluation, extract_features, linear_probe_accuracy
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
    "BaseEncoder",
    "BaseSSLObjective",
    "ContrastiveConfig",
    "ContrastiveViews",
    "EncoderConfig",
    "GRUEncoder",
    "GRUEncoderConfig",
    "JEPAConfig",
    "LinearProbeEvaluation",
    "LatentPrediction",
    "MAEConfig",
    "MaskedReconstruction",
    "Registry",
    "SSLConfig",
    "SSLPretrainModule",
    "TimeSeriesTransformerEncoder",
    "TransformerEncoderConfig",
    "build_encoder",
    "build_objective",
    "encoder_names",
    "extract_features",
    "linear_probe_accuracy",
    "load_encoder",
    "masked_mean",
    "objective_names",
    "optimizer_names",
    "register_encoder",
    "register_objective",
    "scheduler_names",
    "synthetic_timeseries_split",
]
