"""The three protocols as functions over a network and two datasets: :func:`knn`, :func:`linear`,
:func:`finetune`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as pl
from torch import nn

from spt.eval._features import check_keys, extract_features
from spt.eval._finetune import finetune_scores
from spt.eval._gather import Features
from spt.eval._knn import DEFAULT_K, knn_scores
from spt.eval._linear import DEFAULT_LRS, DEFAULT_WEIGHT_DECAYS, linear_scores
from spt.eval._report import loggers, report

__all__ = ["extract", "finetune", "knn", "linear"]

_QUIET = {"logger": False, "enable_checkpointing": False, "enable_model_summary": False}


def _network(backbone: nn.Module, weights: str | Path | None) -> nn.Module:
    if weights is not None:
        from spt.export import load_backbone

        load_backbone(backbone, weights)
    return backbone


def extract(
    backbone: nn.Module,
    train: Any,
    test: Any,
    trainer: Mapping[str, Any] | None = None,
    batch_size: int = 256,
    num_workers: int = 0,
    input_key: str = "image",
    label_key: str = "label",
) -> tuple[Features, Features, pl.Trainer]:
    """Features of ``train`` and ``test`` (each sample once) and the Trainer that made them.

    Raises:
        KeyError: When a dataset's samples lack ``input_key`` or ``label_key`` (named).
    """
    for split, data in (("train", train), ("test", test)):
        check_keys(data, {"input": input_key, "label": label_key}, split)
    runner = pl.Trainer(**{"enable_progress_bar": False, **dict(trainer or {}), **_QUIET})
    kwargs = {
        "batch_size": batch_size,
        "num_workers": num_workers,
        "input_key": input_key,
        "label_key": label_key,
    }
    return (
        extract_features(backbone, train, runner, **kwargs),  # type: ignore[arg-type]
        extract_features(backbone, test, runner, **kwargs),  # type: ignore[arg-type]
        runner,
    )


def knn(
    backbone: nn.Module,
    train: Any,
    test: Any,
    *,
    weights: str | Path | None = None,
    k: Sequence[int] = DEFAULT_K,
    temperature: float = 0.07,
    num_classes: int | None = None,
    trainer: Mapping[str, Any] | None = None,
    batch_size: int = 256,
    num_workers: int = 0,
    input_key: str = "image",
    label_key: str = "label",
    run_dir: str | Path | None = None,
    wandb: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Offline kNN accuracy of a frozen backbone (cosine, votes ``exp(s / temperature)``).

    Args:
        backbone: The network (images -> ``(B, D)`` features).
        train: Dataset of dicts: the kNN bank.
        test: Dataset of dicts: the queries.
        weights: Load these first (``backbone.pt``, a run directory or a checkpoint).
        k: Numbers of neighbours, one row each in the table.
        temperature: Vote temperature.
        num_classes: Number of classes (default: largest label + 1).
        trainer: ``lightning.Trainer`` arguments for the feature extraction.
        batch_size: Batch size of the extraction.
        num_workers: Loader workers.
        input_key: Key of the images in a sample.
        label_key: Key of the labels in a sample.
        run_dir: Write ``<run_dir>/eval/knn.json`` and the CSV log there.
        wandb: ``WandbLogger`` arguments to log the metrics to wandb too.

    Returns:
        ``{"metrics": {"knn/top1_k10": ..., ...}, "k": [...], "temperature": ...}``.

    Examples:
        >>> result = spt.eval.knn(backbone, train, test, weights=run_dir)  # doctest: +SKIP
    """
    network = _network(backbone, weights)
    tr, te, runner = extract(
        network, train, test, trainer, batch_size, num_workers, input_key, label_key
    )
    device = runner.strategy.root_device
    result = knn_scores(tr, te, k, temperature, num_classes, device)
    return report("knn", {**result, "weights": weights}, run_dir, wandb)


def linear(
    backbone: nn.Module,
    train: Any,
    test: Any,
    *,
    weights: str | Path | None = None,
    lrs: Sequence[float] = DEFAULT_LRS,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    epochs: int = 100,
    classifier_batch_size: int = 256,
    val_fraction: float = 0.1,
    seed: int = 0,
    num_classes: int | None = None,
    trainer: Mapping[str, Any] | None = None,
    batch_size: int = 256,
    num_workers: int = 0,
    input_key: str = "image",
    label_key: str = "label",
    run_dir: str | Path | None = None,
    wandb: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Offline linear evaluation: lr and weight decay chosen on a held-out part of train.

    Features are extracted once (un-augmented), standardised, and a linear classifier is
    trained for every grid point; see :func:`spt.eval.linear_scores` and ``docs/evaluation.md``.
    The arguments not listed are those of :func:`knn`.

    Args:
        backbone: The network.
        train: Training dataset of dicts.
        test: Test dataset of dicts.
        weights: Load these first.
        lrs: Learning-rate grid (SGD, momentum 0.9, cosine).
        weight_decays: Weight-decay grid.
        epochs: Epochs of every classifier fit.
        classifier_batch_size: Mini-batch size of the classifier fits.
        val_fraction: Held-out part of train for the selection.
        seed: Seeds the split and the fits (the result is deterministic for a seed).
        num_classes: Number of classes.
        trainer: Trainer arguments for the extraction.
        batch_size: Batch size of the extraction.
        num_workers: Loader workers.
        input_key: Image key.
        label_key: Label key.
        run_dir: Write ``<run_dir>/eval/linear.json`` there.
        wandb: ``WandbLogger`` arguments.

    Returns:
        ``{"metrics": {"linear/top1", ...}, "lr", "weight_decay", "grid", ...}``.
    """
    network = _network(backbone, weights)
    tr, te, runner = extract(
        network, train, test, trainer, batch_size, num_workers, input_key, label_key
    )
    result = linear_scores(
        tr,
        te,
        lrs,
        weight_decays,
        epochs,
        classifier_batch_size,
        val_fraction,
        seed,
        num_classes,
        runner.strategy.root_device,
    )
    return report("linear", {**result, "seed": seed, "weights": weights}, run_dir, wandb)


def finetune(
    backbone: nn.Module,
    train: Any,
    test: Any,
    *,
    weights: str | Path | None = None,
    epochs: int = 20,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    layer_decay: float = 0.75,
    label_smoothing: float = 0.0,
    seed: int = 0,
    num_classes: int | None = None,
    embed_dim: int | None = None,
    trainer: Mapping[str, Any] | None = None,
    batch_size: int = 128,
    num_workers: int = 0,
    input_key: str = "image",
    label_key: str = "label",
    run_dir: str | Path | None = None,
    wandb: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Fine-tune the whole backbone with a new linear head; top-1 on ``test``.

    ``train`` should carry the supervised augmentation. The training curves go to the
    logger of ``run_dir/eval/finetune``. The arguments not listed are those of :func:`knn`.

    Args:
        backbone: The pretrained network (a copy is trained).
        train: Training dataset (augmented).
        test: Test dataset.
        weights: Load these first.
        epochs: Training epochs.
        lr: Peak lr of the head (AdamW, 10 % linear warmup, cosine).
        weight_decay: AdamW weight decay (not on biases and norms).
        layer_decay: Layer-wise lr decay for :class:`spt.backbone.VisionTransformer`.
        label_smoothing: Of the cross-entropy.
        seed: Seeds the head and the shuffling.
        num_classes: Classes (default: largest label of ``test`` + 1).
        embed_dim: Backbone output width (default: measured on one sample).
        trainer: Trainer arguments (devices, precision, ...).
        batch_size: Training batch size.
        num_workers: Loader workers.
        input_key: Image key.
        label_key: Label key.
        run_dir: Write ``<run_dir>/eval/finetune.json`` there.
        wandb: ``WandbLogger`` arguments.

    Returns:
        ``{"metrics": {"finetune/top1", "finetune/top5"}, ...settings}``.
    """
    import torch

    from spt.eval._features import IndexedDataset

    network = _network(backbone, weights)
    for split, data in (("train", train), ("test", test)):
        check_keys(data, {"input": input_key, "label": label_key}, split)
    if num_classes is None:
        num_classes = max(int(IndexedDataset(test)[i][label_key]) for i in range(len(test))) + 1
    if embed_dim is None:
        sample = torch.as_tensor(IndexedDataset(test)[0][input_key])[None]
        was_training = network.training
        with torch.no_grad():  # in eval mode: batch norm must not see a batch of one
            embed_dim = int(network.eval()(sample).shape[-1])
        network.train(was_training)
    settings: dict[str, Any] = {"enable_progress_bar": False, "enable_checkpointing": False}
    settings.update(trainer or {})
    settings.setdefault("enable_model_summary", False)
    settings.setdefault("log_every_n_steps", 10)
    if run_dir is not None:
        settings["logger"] = loggers(Path(run_dir), "finetune", wandb)
    else:
        settings["logger"] = False
    result = finetune_scores(
        network,
        train,
        test,
        settings,
        num_classes,
        embed_dim,
        epochs,
        lr,
        weight_decay,
        layer_decay,
        label_smoothing,
        batch_size,
        num_workers,
        seed,
        input_key,
        label_key,
    )
    used = settings["logger"] or None
    result = {**result, "seed": seed, "weights": weights}
    return report("finetune", result, run_dir, wandb, into=used)
