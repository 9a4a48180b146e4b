"""The names that code ported from stable-pretraining spells resolve on ``spt``."""

from __future__ import annotations

import functools

import pytest

import spt

PORTED_NAMES = [
    "Manager",
    "Module",
    "backbone.from_torchvision",
    "callbacks.OnlineKNN",
    "callbacks.OnlineProbe",
    "callbacks.RankMe",
    "data.DataModule",
    "data.FromTorchDataset",
    "data.HFDataset",
    "data.fold_views",
    "data.static.CIFAR10",
    "data.transforms.ColorJitter",
    "data.transforms.Compose",
    "data.transforms.MultiViewTransform",
    "data.transforms.RGB",
    "data.transforms.RandomGrayscale",
    "data.transforms.RandomHorizontalFlip",
    "data.transforms.RandomResizedCrop",
    "data.transforms.RandomSolarize",
    "data.transforms.Resize",
    "data.transforms.ToImage",
    "forward.simclr",
    "forward.simclr_forward",
    "forward.supervised_forward",
    "losses.NTXEntLoss",
    "optim.LARS",
    "optim.TrainingLength",
    "optim.build_optimizers",
]


@pytest.mark.parametrize("name", PORTED_NAMES)
def test_the_name_resolves(name):
    assert functools.reduce(getattr, name.split("."), spt) is not None
