"""SimCLR on scikit-learn's digits, as a Python script (the same run as simclr_digits.yaml).

uv run python examples/simclr_digits.py
uv run python examples/simclr_digits.py --max-epochs 2
"""

from __future__ import annotations

import argparse

import lightning as pl
import torch
import torchmetrics
from torch import nn

import spt
from spt.data import transforms

SIZE, EMBED_DIM, NUM_CLASSES = 16, 64, 10
NORMALIZE = {"mean": spt.data.static.digits["mean"][:1], "std": spt.data.static.digits["std"][:1]}


def build(max_epochs: int, seed: int = 0) -> spt.Manager:
    """The Trainer, Module, data and callbacks of the example, wrapped in a Manager."""
    pl.seed_everything(seed, workers=True)
    augment = transforms.Compose(
        transforms.RandomResizedCrop((SIZE, SIZE), scale=(0.4, 1.0)),
        transforms.ToImage(**NORMALIZE),
    )
    train = spt.data.digits(
        "train", size=SIZE, rgb=False, transform=transforms.MultiViewTransform(augment, n_views=2)
    )
    val = spt.data.digits("test", size=SIZE, rgb=False, transform=transforms.ToImage(**NORMALIZE))
    data = spt.data.DataModule(
        train=torch.utils.data.DataLoader(train, batch_size=128, shuffle=True, drop_last=True),
        val=torch.utils.data.DataLoader(val, batch_size=360),
    )
    module = spt.Module(
        forward=spt.forward.simclr_forward,
        backbone=spt.backbone.SmallCNN(in_channels=1, width=16, embed_dim=EMBED_DIM),
        projector=spt.backbone.MLP(EMBED_DIM, [256], 64),
        simclr_loss=spt.losses.NTXEntLoss(temperature=0.2),
        optim={
            "optimizer": {"type": "AdamW", "lr": 2e-3, "weight_decay": 1e-4},
            "scheduler": {"type": "CosineAnnealingLR"},
        },
    )
    accuracy = torchmetrics.classification.MulticlassAccuracy
    callbacks = [
        spt.callbacks.OnlineProbe(
            module,
            name="linear_probe",
            input="embedding",
            target="label",
            probe=nn.Linear(EMBED_DIM, NUM_CLASSES),
            optimizer={"type": "AdamW", "lr": 1e-2},
            metrics={"top1": accuracy(NUM_CLASSES)},
        ),
        spt.callbacks.OnlineKNN(
            name="knn",
            input="embedding",
            target="label",
            queue_length=2 * len(train),
            input_dim=EMBED_DIM,
            k=20,
            metrics={"top1": accuracy(NUM_CLASSES)},
        ),
        spt.callbacks.RankMe(name="rankme", input="embedding", queue_length=512, every_n_steps=11),
    ]
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        callbacks=callbacks,
        log_every_n_steps=10,
        num_sanity_val_steps=0,
    )
    return spt.Manager(trainer=trainer, module=module, data=data, seed=seed, ckpt_every_n_steps=200)


def main() -> None:
    parser = argparse.ArgumentParser(description="SimCLR on scikit-learn's digits")
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    build(args.max_epochs, args.seed)()


if __name__ == "__main__":
    main()
