"""Offline linear probe of frozen encoder features, beside the same probe of a random-init encoder.

``spt_callbacks.OnlineProbe`` trains a probe during the run; this one fits a logistic
regression once, at the end of ``fit``, on every training and validation sample.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import lightning as pl
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from typing_extensions import override

from spt.backbone.timeseries import masked_mean
from spt.pretrain.encoders import TimeSeriesEncoder, build_encoder

__all__ = [
    "LinearProbeEvaluation",
    "extract_features",
    "linear_probe_accuracy",
    "probe_against_random_init",
]

_PROBE_BATCH_SIZE = 256


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    batches: Iterable[dict[str, Any]],
    *,
    device: torch.device | str = "cpu",
    input_key: str = "timeseries",
    mask_key: str = "mask",
    label_key: str = "label",
) -> tuple[Tensor, Tensor]:
    """Mean-pool the encoder's tokens over observed steps for every batch.

    Args:
        encoder: the frozen encoder (put in eval mode for the pass, then restored).
        batches: dict batches with ``timeseries`` (B, T, C), ``mask`` (B, T) bool
            (True = observed) and ``label`` (B,).
        device: where to run the encoder.
        input_key: key of the series.
        mask_key: key of the observed-steps mask (absent = all observed).
        label_key: key of the labels.

    Returns:
        ``(features (N, d_model), labels (N,))`` on CPU.
    """
    was_training = encoder.training
    encoder.eval()
    feats, labels = [], []
    for batch in batches:
        x = batch[input_key].to(device)
        observed = batch[mask_key].to(device).bool() if mask_key in batch else None
        tokens, token_mask = cast(TimeSeriesEncoder, encoder).tokens(
            x, observed
        )  # (B, T, D), (B, T)
        feats.append(masked_mean(tokens, token_mask).float().cpu())
        labels.append(torch.as_tensor(batch[label_key]).cpu())
    encoder.train(was_training)
    return torch.cat(feats), torch.cat(labels)


def linear_probe_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    *,
    max_iter: int = 2000,
) -> float:
    """Fit scikit-learn's ``LogisticRegression`` on standardised features; test accuracy.

    Args:
        train_features: (N, D) features to fit on.
        train_labels: (N,) integer labels.
        test_features: (M, D) features to score.
        test_labels: (M,) integer labels.
        max_iter: solver iterations.

    Returns:
        Accuracy on the test features, in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    probe.fit(train_features.numpy(), train_labels.numpy())
    return float(probe.score(test_features.numpy(), test_labels.numpy()))


def probe_against_random_init(
    encoder: nn.Module,
    encoder_config: Mapping[str, Any],
    train: Iterable[dict[str, Any]],
    val: Iterable[dict[str, Any]],
    *,
    seed: int = 0,
    max_iter: int = 2000,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Probe accuracies of ``encoder`` and of a random-init encoder built from its config.

    Args:
        encoder: the pretrained encoder.
        encoder_config: its ``encoder`` section; the baseline is built from it under ``seed``.
        train: batches to fit the probes on; ``val``: batches to score them on.
        seed: seed of the random-init baseline (the caller's random state is kept).
        max_iter: logistic-regression solver iterations.
        device: where to run the encoders.

    Returns:
        ``{"pretrained_acc", "random_init_acc"}``.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        baseline = build_encoder(encoder_config).to(device)
    accuracies = {}
    for name, model in (("pretrained_acc", encoder), ("random_init_acc", baseline)):
        xtr, ytr = extract_features(model, train, device=device)
        xva, yva = extract_features(model, val, device=device)
        accuracies[name] = linear_probe_accuracy(xtr, ytr, xva, yva, max_iter=max_iter)
    return accuracies


class LinearProbeEvaluation(pl.Callback):
    """At the end of ``fit``, :func:`probe_against_random_init` on the fit's data.

    Features come from ``pl_module.get_encoder()`` on every sample of the datasets of the
    train and validation dataloaders, in order (the training loader's shuffle and dropped
    batch do not matter). The results are printed, kept in ``self.results``, sent to the
    trainer's loggers and put in ``trainer.callback_metrics`` (so the ``spt`` command's final
    table shows them) as ``probe/pretrained_acc``, ``probe/random_init_acc``,
    ``probe/pretrain_seconds`` and ``probe/probe_seconds``; and written as JSON to
    ``output_path`` when it is set.

    Args:
        output_path: optional JSON file for the results.
        seed: seed of the random-init baseline encoder.
        max_iter: logistic-regression solver iterations.
    """

    def __init__(self, output_path: str | None = None, seed: int = 0, max_iter: int = 2000) -> None:
        super().__init__()
        self.output_path = output_path
        self.seed = seed
        self.max_iter = max_iter
        self.results: dict[str, float] = {}
        self._fit_start = 0.0

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_start = time.perf_counter()

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        pretrain_s = time.perf_counter() - self._fit_start
        train, val = _probe_loaders(trainer)
        start = time.perf_counter()
        self.results = probe_against_random_init(
            pl_module.get_encoder(),  # type: ignore[operator]
            pl_module.hparams["encoder"],
            train,
            val,
            seed=self.seed,
            max_iter=self.max_iter,
            device=pl_module.device,
        )
        self.results |= {
            "pretrain_seconds": pretrain_s,
            "probe_seconds": time.perf_counter() - start,
        }
        r = self.results
        print(
            "linear probe (logistic regression on frozen, mean-pooled features)\n"
            f"{'encoder':<12} {'val accuracy':>12}\n"
            f"{'pretrained':<12} {r['pretrained_acc']:>12.3f}\n"
            f"{'random init':<12} {r['random_init_acc']:>12.3f}\n"
            f"pretraining {r['pretrain_seconds']:.1f} s, probes {r['probe_seconds']:.1f} s"
        )
        trainer.callback_metrics.update({f"probe/{k}": torch.tensor(v) for k, v in r.items()})
        for logger in trainer.loggers:
            logger.log_metrics({f"probe/{k}": v for k, v in r.items()}, step=trainer.global_step)
        if self.output_path:
            Path(self.output_path).parent.mkdir(parents=True, exist_ok=True)
            Path(self.output_path).write_text(json.dumps(r, indent=2) + "\n")


def _probe_loaders(trainer: pl.Trainer) -> tuple[Any, Any]:
    """The fit's train and validation datasets, unshuffled, with every batch kept."""
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is not None:
        train, val = datamodule.train_dataloader(), datamodule.val_dataloader()
    else:
        train, val = trainer.train_dataloader, trainer.val_dataloaders
    if isinstance(val, (list, tuple)):
        val = val[0] if val else None
    if train is None or val is None:
        raise RuntimeError(
            "LinearProbeEvaluation needs train and validation dataloaders; pass both to "
            "trainer.fit(...) or use a DataModule with train and val"
        )
    return _in_order(train), _in_order(val)


def _in_order(loader: Any) -> Any:
    if not isinstance(loader, DataLoader):
        return loader
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size or _PROBE_BATCH_SIZE,
        shuffle=False,
        collate_fn=loader.collate_fn,
        num_workers=loader.num_workers,
    )
