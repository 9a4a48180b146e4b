"""Models shared by the spt_optim tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def seed004_model() -> nn.Module:
    """The module tree of seed 004's routing example.

    encoder / encoder.layer1 / encoder.layer1.conv, classifier_head /
    classifier_head.linear, decoder; ``encoder`` also holds a direct parameter.
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


@pytest.fixture
def seed_model() -> nn.Module:
    torch.manual_seed(0)
    return seed004_model()


@pytest.fixture
def ssl_model() -> nn.Module:
    """backbone (with a norm layer) + projector, as in seed 002."""
    torch.manual_seed(0)
    model = nn.Module()
    model.backbone = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8))
    model.projector = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    return model
