"""Offline linear evaluation: a linear classifier on frozen, standardised features."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from spt.eval._gather import Features

__all__ = ["DEFAULT_LRS", "DEFAULT_WEIGHT_DECAYS", "fit_linear", "linear_scores"]

DEFAULT_LRS = (0.01, 0.03, 0.1, 0.3, 1.0)
DEFAULT_WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3)


def _standardise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    mean = train.mean(0, keepdim=True)
    std = train.std(0, keepdim=True).clamp_min(1e-6)
    return [(x - mean) / std for x in (train, *others)]


def fit_linear(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    lr: float,
    weight_decay: float,
    epochs: int = 100,
    batch_size: int = 256,
    seed: int = 0,
) -> nn.Linear:
    """Train ``nn.Linear`` with cross-entropy: SGD (momentum 0.9), cosine lr, fixed epochs.

    Args:
        x: ``(N, D)`` features (already standardised).
        y: ``(N,)`` labels.
        num_classes: Output width.
        lr: Peak learning rate.
        weight_decay: L2 weight decay of SGD.
        epochs: Passes over the data.
        batch_size: Mini-batch size (``>= N``: full batch).
        seed: Seeds the initialisation and the shuffling.

    Returns:
        The trained classifier (on ``x``'s device).
    """
    generator = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    classifier = nn.Linear(x.shape[1], num_classes).to(x.device)
    torch.random.set_rng_state(torch_state)
    optimizer = torch.optim.SGD(
        classifier.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay
    )
    steps_per_epoch = math.ceil(len(x) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator).to(x.device)
            for start in range(0, len(x), batch_size):
                rows = order[start : start + batch_size]
                loss = loss_fn(classifier(x[rows]), y[rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
    return classifier


@torch.no_grad()
def _accuracy(classifier: nn.Linear, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = classifier(x)
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    return float((top[:, 0] == y).double().mean()), float(
        (top == y[:, None]).any(1).double().mean()
    )


def linear_scores(
    train: Features,
    test: Features,
    lrs: Sequence[float] = DEFAULT_LRS,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    epochs: int = 100,
    batch_size: int = 256,
    val_fraction: float = 0.1,
    seed: int = 0,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Select lr and weight decay on a held-out part of train, retrain on all of it, test.

    1. A seeded random ``val_fraction`` of the training features is held out; features are
       standardised with the mean and standard deviation of the rest.
    2. For every (lr, weight decay) of the grid, :func:`fit_linear` trains on the rest and is
       scored (top-1) on the held-out part; the best setting wins (ties: the first in the grid).
    3. With that setting, a classifier trains on the whole training set (standardised with its
       own statistics) and is scored on the test features.

    Args:
        train: Training features and labels.
        test: Test features and labels.
        lrs: Learning rates of the grid.
        weight_decays: Weight decays of the grid.
        epochs: Epochs of every fit.
        batch_size: Mini-batch size.
        val_fraction: Part of the training set held out for the selection, in ``(0, 1)``.
        seed: Seeds the split, the initialisations and the shuffling.
        num_classes: Number of classes (default: the largest label + 1).
        device: Where the classifiers train.

    Returns:
        ``{"metrics": {"linear/top1", "linear/top5", "linear/val_top1"}, "lr", "weight_decay",
        "grid": [{"lr", "weight_decay", "val_top1"}, ...], ...}``.

    Raises:
        ValueError: If ``val_fraction`` is not in ``(0, 1)`` or a grid is empty.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"linear: val_fraction must be in (0, 1), got {val_fraction!r}")
    if not lrs or not weight_decays:
        raise ValueError(
            f"linear: empty grid (lrs={list(lrs)}, weight_decays={list(weight_decays)})"
        )
    classes = num_classes or int(max(train.label.max(), test.label.max())) + 1
    x, y = train.embedding.to(device), train.label.to(device)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed)).to(device)
    n_val = max(1, round(val_fraction * len(x)))
    val_rows, fit_rows = order[:n_val], order[n_val:]
    fit_x, val_x = _standardise(x[fit_rows], x[val_rows])
    grid = []
    for lr in lrs:
        for wd in weight_decays:
            clf = fit_linear(fit_x, y[fit_rows], classes, lr, wd, epochs, batch_size, seed)
            grid.append(
                {"lr": lr, "weight_decay": wd, "val_top1": _accuracy(clf, val_x, y[val_rows])[0]}
            )
    best = max(grid, key=lambda g: g["val_top1"])  # max keeps the first of equal scores
    all_x, test_x = _standardise(x, test.embedding.to(device))
    clf = fit_linear(all_x, y, classes, best["lr"], best["weight_decay"], epochs, batch_size, seed)
    top1, top5 = _accuracy(clf, test_x, test.label.to(device))
    return {
        "metrics": {"linear/top1": top1, "linear/top5": top5, "linear/val_top1": best["val_top1"]},
        "lr": best["lr"],
        "weight_decay": best["weight_decay"],
        "epochs": epochs,
        "batch_size": batch_size,
        "val_fraction": val_fraction,
        "grid": grid,
    }
