"""Registered SSL objectives: ``mae``, ``contrastive`` and ``jepa``."""

from spt.pretrain.objectives.base import (
    BaseSSLObjective,
    SSLConfig,
    build_objective,
    objective_config,
    sample_hidden_steps,
)
from spt.pretrain.objectives.contrastive import ContrastiveConfig, ContrastiveViews
from spt.pretrain.objectives.jepa import JEPAConfig, LatentPrediction
from spt.pretrain.objectives.mae import MAEConfig, MaskedReconstruction

__all__ = [
    "BaseSSLObjective",
    "ContrastiveConfig",
    "ContrastiveViews",
    "JEPAConfig",
    "LatentPrediction",
    "MAEConfig",
    "MaskedReconstruction",
    "SSLConfig",
    "build_objective",
    "objective_config",
    "sample_hidden_steps",
]
