"""Online probe, kNN and RankMe callbacks on a SimCLR module, run by ``spt.Manager``."""

from __future__ import annotations

import lightning as pl
import pytest
import torch
import torchmetrics
from torch import nn

import spt
from spt import forward


def simclr_module() -> spt.Module:
    encoder = spt.backbone.from_torchvision("resnet18", low_resolution=True)
    encoder.fc = nn.Identity()
    return spt.Module(
        backbone=encoder,
        projector=nn.Sequential(nn.Linear(512, 256), nn.BatchNorm1d(256), nn.ReLU()),
        forward=forward.simclr_forward,
        simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
        optim={
            "optimizer": {"type": "Adam", "lr": 0.001},
            "scheduler": {"type": "CosineAnnealingLR"},
            "interval": "epoch",
        },
    )


def monitors(module: spt.Module) -> tuple[pl.Callback, pl.Callback]:
    linear_probe = spt.callbacks.OnlineProbe(
        module,
        name="linear_probe",
        input="embedding",
        target="label",
        probe=torch.nn.Linear(512, 10),
        loss_fn=torch.nn.CrossEntropyLoss(),
        metrics={
            "top1": torchmetrics.classification.MulticlassAccuracy(10),
            "top5": torchmetrics.classification.MulticlassAccuracy(10, top_k=5),
        },
    )
    knn_probe = spt.callbacks.OnlineKNN(
        name="knn_probe", input="embedding", target="label", queue_length=20000, k=10
    )
    return linear_probe, knn_probe


def test_the_probe_and_the_knn_monitor_are_lightning_callbacks():
    linear_probe, knn_probe = monitors(simclr_module())
    assert isinstance(linear_probe, pl.Callback)
    assert isinstance(knn_probe, pl.Callback)


@pytest.mark.slow
def test_the_manager_trains_and_the_monitors_log(cifar10, cifar_transforms, quick_trainer, workdir):
    module = simclr_module()
    linear_probe, knn_probe = monitors(module)
    rankme = spt.callbacks.RankMe(
        name="rankme", input="embedding", queue_length=64, every_n_steps=1
    )
    loader = torch.utils.data.DataLoader
    train = spt.data.FromTorchDataset(
        cifar10(train=True), names=["image", "label"], transform=cifar_transforms.simclr
    )
    val = spt.data.FromTorchDataset(
        cifar10(train=False), names=["image", "label"], transform=cifar_transforms.val
    )
    data = spt.data.DataModule(
        train=loader(train, batch_size=4, shuffle=True, drop_last=True),
        val=loader(val, batch_size=4),
    )
    trainer = quick_trainer(num_sanity_val_steps=1, callbacks=[linear_probe, knn_probe, rankme])
    manager = spt.Manager(trainer=trainer, module=module, data=data)
    manager()
    assert trainer.global_step == 1
    logged = set(trainer.callback_metrics)
    assert {"linear_probe/val/top1", "knn_probe/val/top1"} <= logged, sorted(logged)
