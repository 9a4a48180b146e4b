"""Linear probe on frozen encoder features, compared with a randomly initialised encoder."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from typing_extensions import override

from spt.pretrain.encoders.base import BaseEncoder, build_encoder, masked_mean

_PROBE_BATCH_SIZE = 256


@torch.no_grad()
def extract_features(
    encoder: BaseEncoder,
    batches: Iterable[dict[str, Any]],
    *,
    device: torch.device | str = "cpu",
    input_key: str = "timeseries",
    mask_key: str = "mask",
    label_key: str = "label",
) -> tuple[Tensor, Tensor]:
    """Mean-pool the encoder's latents over observed steps for every batch.

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
        padding = None if observed is None else ~observed
        latents = encoder(x, padding_mask=padding)  # (B, T, d_model)
        feats.append(masked_mean(latents, observed).float().cpu())
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


class LinearProbeEvaluation(pl.Callback):
    """At the end of ``fit``, linear-probe the pretrained encoder and a random-init one.

    Features come from ``pl_module.get_encoder()`` (frozen, mean-pooled over observed steps)
    on every sample of the datasets of the trainer's train and validation dataloaders, in
    order; the baseline encoder is built from the same encoder config with a fixed seed.
    The accuracies are printed as a table, kept in ``self.results``, sent to the trainer's
    loggers and put in ``trainer.callback_metrics`` as ``probe/pretrained_acc``,
    ``probe/random_init_acc``, ``probe/pretrain_seconds`` and ``probe/probe_seconds`` and,
    when ``output_path`` is set, written there as JSON.

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
        train_loader, val_loader = _probe_loaders(trainer)
        pretrained = pl_module.get_encoder()  # type: ignore[operator]
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            baseline = build_encoder(pretrained.config).to(pl_module.device)
        start = time.perf_counter()
        accuracies = {}
        for name, encoder in (("pretrained", pretrained), ("random_init", baseline)):
            xtr, ytr = extract_features(encoder, train_loader, device=pl_module.device)
            xva, yva = extract_features(encoder, val_loader, device=pl_module.device)
            accuracies[name] = linear_probe_accuracy(xtr, ytr, xva, yva, max_iter=self.max_iter)
        self.results = {
            "pretrained_acc": accuracies["pretrained"],
            "random_init_acc": accuracies["random_init"],
            "pretrain_seconds": pretrain_s,
            "probe_seconds": time.perf_counter() - start,
        }
        print(format_probe_table(self.results))
        # callback_metrics too, so the final table of spt.Manager (the spt command) shows them.
        trainer.callback_metrics.update(
            {f"probe/{k}": torch.tensor(v) for k, v in self.results.items()}
        )
        for logger in trainer.loggers:
            logger.log_metrics(
                {f"probe/{k}": v for k, v in self.results.items()}, step=trainer.global_step
            )
        if self.output_path:
            Path(self.output_path).parent.mkdir(parents=True, exist_ok=True)
            Path(self.output_path).write_text(json.dumps(self.results, indent=2) + "\n")


def format_probe_table(results: dict[str, float]) -> str:
    """A two-row table of probe accuracies (pretrained vs random-init encoder)."""
    rows = [
        ("pretrained", results["pretrained_acc"]),
        ("random init", results["random_init_acc"]),
    ]
    lines = ["linear probe (logistic regression on frozen, mean-pooled features)"]
    lines.append(f"{'encoder':<12} {'val accuracy':>12}")
    lines += [f"{name:<12} {acc:>12.3f}" for name, acc in rows]
    lines.append(
        f"pretraining {results['pretrain_seconds']:.1f} s, probes {results['probe_seconds']:.1f} s"
    )
    return "\n".join(lines)


def _probe_loaders(trainer: pl.Trainer) -> tuple[Any, Any]:
    """The datasets of the finished fit's train and validation dataloaders, in order.

    The training loader usually shuffles and drops its last batch; the probe sees every
    sample once, in a fixed order, so its result does not depend on the loader's draw.
    """
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
    """The same dataset and collate function, unshuffled, with every batch kept."""
    if not isinstance(loader, DataLoader):
        return loader
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size or _PROBE_BATCH_SIZE,
        shuffle=False,
        drop_last=False,
        collate_fn=loader.collate_fn,
        num_workers=loader.num_workers,
    )
