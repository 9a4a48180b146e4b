"""Models shared by the spt_optim tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spt_optim.testing import routing_example_model


@pytest.fixture
def routing_model() -> nn.Module:
    """The model of the routing example of the docs (:mod:`spt_optim.testing`)."""
    torch.manual_seed(0)
    return routing_example_model()


@pytest.fixture
def ssl_model() -> nn.Module:
    """backbone (with a norm layer) + projector, as in the self-supervised examples."""
    torch.manual_seed(0)
    model = nn.Module()
    model.backbone = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8))
    model.projector = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    return model
