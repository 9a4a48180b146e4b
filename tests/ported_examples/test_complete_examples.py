"""Complete runs on the CIFAR-10 stand-in: SimCLR with online monitors, and a supervised baseline.

Each builds what a CIFAR-10 run needs (datasets, loaders, DataModule, ResNet-18, Module,
callbacks, Trainer, Manager) and trains one batch, then checks the logged metrics.
"""

from __future__ import annotations

import pytest
import torch
import torchmetrics
from lightning.pytorch.loggers import WandbLogger
from torch import nn

import spt
from spt import forward
from spt.data import transforms


def cifar_data(cifar10, train_transform, val_transform) -> spt.data.DataModule:
    train = spt.data.FromTorchDataset(
        cifar10(root="./data", train=True), names=["image", "label"], transform=train_transform
    )
    val = spt.data.FromTorchDataset(
        cifar10(root="./data", train=False), names=["image", "label"], transform=val_transform
    )
    loader = torch.utils.data.DataLoader
    return spt.data.DataModule(
        train=loader(train, batch_size=4, shuffle=True, drop_last=True),
        val=loader(val, batch_size=4),
    )


def resnet18_encoder() -> nn.Module:
    encoder = spt.backbone.from_torchvision("resnet18", low_resolution=True)
    encoder.fc = nn.Identity()
    return encoder


def probe_and_knn(module: spt.Module) -> list:
    linear_probe = spt.callbacks.OnlineProbe(
        module,
        name="linear_probe",
        input="embedding",
        target="label",
        probe=nn.Linear(512, 10),
        loss_fn=nn.CrossEntropyLoss(),
        metrics={
            "top1": torchmetrics.classification.MulticlassAccuracy(10),
            "top5": torchmetrics.classification.MulticlassAccuracy(10, top_k=5),
        },
    )
    knn_probe = spt.callbacks.OnlineKNN(
        name="knn_probe",
        input="embedding",
        target="label",
        queue_length=20000,
        metrics={"accuracy": torchmetrics.classification.MulticlassAccuracy(10)},
        input_dim=512,
        k=10,
    )
    return [linear_probe, knn_probe]


@pytest.mark.slow
def test_simclr_with_lars_and_online_monitors(cifar10, cifar_transforms, quick_trainer, workdir):
    data = cifar_data(cifar10, cifar_transforms.simclr, cifar_transforms.val)
    module = spt.Module(
        backbone=resnet18_encoder(),
        projector=nn.Sequential(
            nn.Linear(512, 2048), nn.BatchNorm1d(2048), nn.ReLU(inplace=True), nn.Linear(2048, 256)
        ),
        forward=forward.simclr_forward,
        simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
        optim={
            "optimizer": {"type": "LARS", "lr": 0.1, "weight_decay": 1e-6},
            "scheduler": {"type": "CosineAnnealingLR"},
            "interval": "epoch",
        },
    )
    trainer = quick_trainer(callbacks=probe_and_knn(module))
    spt.Manager(trainer=trainer, module=module, data=data)()
    assert trainer.global_step == 1
    logged = set(trainer.callback_metrics)
    assert {"linear_probe/val/top1", "knn_probe/val/accuracy"} <= logged, sorted(logged)


def simclr_view(scale: tuple[float, float], solarize: bool):
    steps = [
        transforms.RGB(),
        transforms.RandomResizedCrop((32, 32), scale=scale),
        transforms.RandomHorizontalFlip(p=0.5),
        transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p=0.8),
        transforms.RandomGrayscale(p=0.2),
    ]
    if solarize:
        steps.append(transforms.RandomSolarize(threshold=0.5, p=0.2))
    return transforms.Compose(*steps, transforms.ToImage(**spt.data.static.CIFAR10))


@pytest.mark.slow
def test_the_full_simclr_recipe_with_warmup_and_a_wandb_logger(
    cifar10, cifar_transforms, quick_trainer, workdir
):
    two_views = transforms.MultiViewTransform(
        [simclr_view((0.2, 1.0), solarize=False), simclr_view((0.08, 1.0), solarize=True)]
    )
    data = cifar_data(cifar10, two_views, cifar_transforms.val)
    projector = nn.Sequential(
        nn.Linear(512, 2048),
        nn.BatchNorm1d(2048),
        nn.ReLU(inplace=True),
        nn.Linear(2048, 2048),
        nn.BatchNorm1d(2048),
        nn.ReLU(inplace=True),
        nn.Linear(2048, 256),
    )
    module = spt.Module(
        backbone=resnet18_encoder(),
        projector=projector,
        forward=forward.simclr_forward,
        simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
        optim={
            "optimizer": {"type": "LARS", "lr": 5, "weight_decay": 1e-6},
            "scheduler": {"type": "LinearWarmupCosineAnnealing"},
            "interval": "epoch",
        },
    )
    trainer = quick_trainer(
        callbacks=probe_and_knn(module), logger=WandbLogger(project="cifar10-simclr")
    )
    spt.Manager(trainer=trainer, module=module, data=data)()
    assert trainer.global_step == 1
    logged = set(trainer.callback_metrics)
    assert {"linear_probe/val/top1", "knn_probe/val/accuracy"} <= logged, sorted(logged)


@pytest.mark.slow
def test_supervised_baseline_logs_its_metrics(cifar10, cifar_transforms, quick_trainer, workdir):
    data = cifar_data(cifar10, cifar_transforms.train, cifar_transforms.val)
    classifier = spt.backbone.from_torchvision("resnet18", low_resolution=True)
    classifier.fc = nn.Linear(512, 10)
    module = spt.Module(
        backbone=classifier,
        forward=forward.supervised_forward,
        supervised_loss=nn.CrossEntropyLoss(),
        optim={
            "optimizer": {"type": "AdamW", "lr": 1e-3, "weight_decay": 0.01},
            "scheduler": {"type": "CosineAnnealingLR"},
            "interval": "epoch",
        },
        metrics={
            "top1": torchmetrics.classification.MulticlassAccuracy(10),
            "top5": torchmetrics.classification.MulticlassAccuracy(10, top_k=5),
        },
    )
    trainer = quick_trainer()
    spt.Manager(trainer=trainer, module=module, data=data)()
    assert trainer.global_step == 1
    logged = set(trainer.callback_metrics)
    assert {"val/top1", "val/top5"} <= logged, sorted(logged)
