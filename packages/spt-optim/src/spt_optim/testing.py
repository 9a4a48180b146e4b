"""The routing example of the docs, as a model and an ``optim`` spec that tests reuse.

Small and torch-only, so the tests of spt-optim (which installs alone) and of the packages
built on it route the same tree with the same spec.

Examples:
    >>> import warnings
    >>> from spt_optim import build_optimizers
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # the decoder is routed to no optimizer
    ...     entries = build_optimizers(routing_example_model(), ROUTING_EXAMPLE_OPTIM)
    >>> [(entry.name, type(entry.optimizer).__name__) for entry in entries]
    [('encoder_opt', 'AdamW'), ('head_opt', 'SGD')]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["ROUTING_EXAMPLE_OPTIM", "routing_example_model"]

#: Two optimizers routed by regex: the encoder (step-interval OneCycleLR with its own
#: length) and every module whose name ends in ``head`` (ReduceLROnPlateau on
#: ``val_accuracy``, stepped per epoch, the optimizer every second accumulated batch).
#: The decoder matches no route.
ROUTING_EXAMPLE_OPTIM: dict[str, Any] = {
    "encoder_opt": {
        "modules": "encoder",
        "optimizer": {"type": "AdamW", "lr": 1e-3},
        "scheduler": {"type": "OneCycleLR", "max_lr": 1e-3, "total_steps": 10000},
        "interval": "step",
        "frequency": 1,
    },
    "head_opt": {
        "modules": ".*head$",
        "optimizer": "SGD",
        "scheduler": {"type": "ReduceLROnPlateau", "mode": "max", "patience": 5, "factor": 0.5},
        "monitor": "val_accuracy",
        "interval": "epoch",
        "frequency": 2,
    },
}


def routing_example_model() -> nn.Module:
    """The module tree that :data:`ROUTING_EXAMPLE_OPTIM` routes.

    ``encoder`` (with a direct parameter ``scale``) / ``encoder.layer1`` /
    ``encoder.layer1.conv``, ``classifier_head`` / ``classifier_head.linear``, ``decoder``.

    Returns:
        A fresh model; its weights follow torch's global random state.
    """
    model = nn.Module()
    model.encoder = nn.Module()
    model.encoder.scale = nn.Parameter(torch.ones(3))
    model.encoder.layer1 = nn.Module()
    model.encoder.layer1.conv = nn.Conv2d(3, 3, 1)
    model.classifier_head = nn.Module()
    model.classifier_head.linear = nn.Linear(3, 2)
    model.decoder = nn.Linear(3, 3)
    return model
