"""Fine-tuning: the whole backbone and a new linear head, supervised, AdamW, warmup + cosine."""

from __future__ import annotations

import copy
from typing import Any

import lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from spt.eval._features import IndexedDataset, extract_features

__all__ = ["finetune_optim", "finetune_scores"]


def finetune_optim(
    backbone: nn.Module, lr: float, weight_decay: float, layer_decay: float = 0.75
) -> dict[str, Any]:
    """The ``optim`` of the fine-tuning ``spt.Module``: AdamW, linear warmup then cosine.

    For an :class:`spt.backbone.VisionTransformer`, layer-wise lr decay (BEiT, MAE): block
    ``i`` of ``L`` gets ``lr * layer_decay ** (L - i)``, the patch embedding, class token and
    position embedding ``lr * layer_decay ** (L + 1)``, the last norm and the head ``lr``. It
    is written as one AdamW per depth, routed by module name (AdamW is per parameter, so this
    equals one AdamW with a parameter group per depth). Other backbones get one AdamW.

    Args:
        backbone: The network under ``module.backbone``.
        lr: Learning rate of the head.
        weight_decay: AdamW weight decay (biases and norms excluded).
        layer_decay: Factor per block towards the input; 1.0 switches it off.

    Returns:
        A spec for :func:`spt_optim.build_optimizers`.
    """
    from spt.backbone import VisionTransformer

    def entry(rate: float, modules: str | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "optimizer": {"type": "AdamW", "lr": rate, "weight_decay": weight_decay},
            "scheduler": {"type": "LinearWarmupCosineAnnealing"},
            "interval": "step",
            "exclude_bias_and_norm": True,
        }
        if modules is not None:
            spec["modules"] = modules
        return spec

    if not isinstance(backbone, VisionTransformer) or layer_decay == 1.0 or not backbone.blocks:
        return entry(lr)
    depth = len(backbone.blocks)
    routes = {"embed": entry(lr * layer_decay ** (depth + 1), "backbone")}
    for i in range(depth):
        routes[f"block{i}"] = entry(lr * layer_decay ** (depth - i), rf"backbone\.blocks\.{i}")
    routes["head"] = entry(lr, r"classifier|backbone\.norm")
    return routes


def finetune_scores(
    backbone: nn.Module,
    train: Any,
    test: Any,
    trainer: dict[str, Any],
    num_classes: int,
    embed_dim: int,
    epochs: int = 20,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    layer_decay: float = 0.75,
    label_smoothing: float = 0.0,
    batch_size: int = 128,
    num_workers: int = 0,
    seed: int = 0,
    input_key: str = "image",
    label_key: str = "label",
) -> dict[str, Any]:
    """Train a copy of ``backbone`` with a new ``nn.Linear`` head on ``train``; score ``test``.

    Args:
        backbone: The pretrained network (not modified: a copy is trained).
        train: Training dataset (usually with the supervised augmentation).
        test: Test dataset (un-augmented).
        trainer: Trainer arguments (``max_epochs`` is set to ``epochs``).
        num_classes: Output width of the head.
        embed_dim: Width of the backbone's output.
        epochs: Training epochs.
        lr: Peak learning rate of the head (see :func:`finetune_optim`).
        weight_decay: AdamW weight decay.
        layer_decay: Layer-wise lr decay for ViTs.
        label_smoothing: Of the cross-entropy.
        batch_size: Training batch size.
        num_workers: Loader workers.
        seed: Seeds the head and the shuffling.
        input_key: Key of the images.
        label_key: Key of the labels.

    Returns:
        ``{"metrics": {"finetune/top1", "finetune/top5"}, "epochs", "lr", ...}``.
    """
    import spt
    from spt.forward import supervised_forward

    pl.seed_everything(seed, workers=True, verbose=False)
    network = copy.deepcopy(backbone)
    head = nn.Linear(embed_dim, num_classes)
    module = spt.Module(
        forward=supervised_forward,
        backbone=network,
        classifier=head,
        supervised_loss=nn.CrossEntropyLoss(label_smoothing=label_smoothing),
        optim=finetune_optim(network, lr, weight_decay, layer_decay),
    )
    loader = DataLoader(
        _Renamed(IndexedDataset(train), input_key, label_key),
        batch_size=batch_size,
        shuffle=True,
        num_workers=num_workers,
        drop_last=len(train) > batch_size,
    )
    fit = pl.Trainer(**{**trainer, "max_epochs": epochs})
    fit.fit(module, train_dataloaders=loader)
    scored = extract_features(
        nn.Sequential(network, head),
        test,
        fit,
        batch_size=batch_size,
        num_workers=num_workers,
        input_key=input_key,
        label_key=label_key,
    )
    logits, target = scored.embedding, scored.label
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    return {
        "metrics": {
            "finetune/top1": float((top[:, 0] == target).double().mean()),
            "finetune/top5": float((top == target[:, None]).any(1).double().mean()),
        },
        "epochs": epochs,
        "lr": lr,
        "weight_decay": weight_decay,
        "layer_decay": layer_decay,
        "batch_size": batch_size,
    }


class _Renamed(torch.utils.data.Dataset[dict[str, Any]]):
    """Samples with images under ``"image"`` and labels under ``"label"`` (the forward's keys)."""

    def __init__(self, dataset: IndexedDataset, input_key: str, label_key: str) -> None:
        self.dataset = dataset
        self.keys = (input_key, label_key)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.dataset[index]
        if self.keys == ("image", "label"):
            return sample
        return {
            "image": sample[self.keys[0]],
            "label": sample[self.keys[1]],
            "sample_idx": sample["sample_idx"],
        }
