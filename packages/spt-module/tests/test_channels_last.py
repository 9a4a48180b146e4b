"""Module(channels_last=True): NHWC weights and image batches, the same steps as NCHW."""

from __future__ import annotations

from typing import Any

import lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from spt_module import Module
from spt_module.testing import make_trainer

CL = torch.channels_last


class Images(Dataset[dict[str, Any]]):
    def __init__(self, n: int = 32) -> None:
        gen = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, 8, 8, generator=gen)
        self.labels = torch.arange(n) % 3

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i], "label": self.labels[i]}


def conv_forward(self: Any, batch: dict[str, Any], stage: str) -> dict[str, Any]:
    self.layouts.append(batch["image"].is_contiguous(memory_format=CL))
    logits = self.head(self.backbone(batch["image"]))
    return {"loss": nn.functional.cross_entropy(logits, batch["label"])}


def conv_module(**kwargs: Any) -> Module:
    torch.manual_seed(0)
    module = Module(
        forward=conv_forward,
        backbone=nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        ),
        head=nn.Linear(8, 3),
        optim={"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}, "scheduler": None},
        **kwargs,
    )
    module.layouts = []
    return module


class Data(pl.LightningDataModule):
    def __init__(self, gpu_transform: Any = None) -> None:
        super().__init__()
        self.gpu_transform = gpu_transform

    def train_dataloader(self) -> DataLoader[Any]:
        return DataLoader(Images(), batch_size=8)


class Scale(nn.Module):
    """A batch transform with the ``memory_format`` attribute of spt_data.gpu's transforms."""

    def __init__(self) -> None:
        super().__init__()
        self.memory_format: torch.memory_format | None = None

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        image = batch["image"] * 2.0 - 1.0
        if self.memory_format is not None:
            image = image.contiguous(memory_format=self.memory_format)
        return {**batch, "image": image}


def test_convolution_weights_become_channels_last() -> None:
    module = conv_module(channels_last=True)
    assert module.backbone[0].weight.is_contiguous(memory_format=CL)
    assert not conv_module().backbone[0].weight.is_contiguous(memory_format=CL)
    assert module.head.weight.is_contiguous()  # 2-D tensors are left alone
    assert list(module.state_dict()) == list(conv_module().state_dict())


def test_channels_last_steps_match_the_default_format() -> None:
    runs = {}
    for channels_last in (False, True):
        module = conv_module(channels_last=channels_last)
        make_trainer(max_steps=4).fit(module, datamodule=Data())
        runs[channels_last] = module
    assert runs[True].layouts == [True] * 4
    assert runs[False].layouts == [False] * 4
    for (name, p), q in zip(runs[False].named_parameters(), runs[True].parameters(), strict=True):
        torch.testing.assert_close(q, p, msg=name)
    assert runs[True].backbone[0].weight.is_contiguous(memory_format=CL)


def test_the_data_gpu_transform_is_asked_for_channels_last() -> None:
    transform = Scale()
    module = conv_module(channels_last=True)
    make_trainer(max_steps=2).fit(module, datamodule=Data(gpu_transform=transform))
    assert transform.memory_format is CL
    assert module.layouts == [True, True]
    untouched = Scale()
    make_trainer(max_steps=1).fit(conv_module(), datamodule=Data(gpu_transform=untouched))
    assert untouched.memory_format is None
