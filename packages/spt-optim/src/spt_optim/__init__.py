"""Declarative optimizers, regex parameter routing and schedulers with defaults.

For any PyTorch or Lightning code.
Imports torch only (never lightning). Example, inside any LightningModule::

    def configure_optimizers(self):
        return spt_optim.configure_optimizers(self, {"optimizer": {"type": "AdamW", "lr": 1e-3}})
"""

from spt_optim._validate import QuotedNumberWarning, validate_optim
from spt_optim.entries import (
    OptimizerEntry,
    build_optimizers,
    configure_optimizers,
    length_from_module,
)
from spt_optim.lars import LARS
from spt_optim.length import TrainingLength
from spt_optim.optimizers import build_optimizer
from spt_optim.report import RoutingReport, format_table, routing_report
from spt_optim.routing import UnmatchedParametersWarning, route_modules, route_parameters
from spt_optim.schedulers import build_scheduler, scheduler_defaults
from spt_optim.warmup_cosine import LinearWarmupCosineAnnealing
from spt_optim.weight_decay import norm_parameter_names, weight_decay_groups

__version__ = "0.1.0"

__all__ = [
    "LARS",
    "LinearWarmupCosineAnnealing",
    "OptimizerEntry",
    "QuotedNumberWarning",
    "RoutingReport",
    "TrainingLength",
    "UnmatchedParametersWarning",
    "__version__",
    "build_optimizer",
    "build_optimizers",
    "build_scheduler",
    "configure_optimizers",
    "format_table",
    "length_from_module",
    "norm_parameter_names",
    "route_modules",
    "route_parameters",
    "routing_report",
    "scheduler_defaults",
    "validate_optim",
    "weight_decay_groups",
]
