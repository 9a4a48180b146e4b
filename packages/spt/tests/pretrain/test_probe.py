"""The linear probe of the example: frozen features, every sample, pretrained vs random init."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, Subset

from spt.pretrain import (
    LinearProbeEvaluation,
    SSLPretrainModule,
    build_encoder,
    extract_features,
    linear_probe_accuracy,
    probe_against_random_init,
)
from spt.pretrain import probe as probe_module
from spt_module.testing import make_trainer


def test_extract_features_pools_observed_steps(series_dataset: Any) -> None:
    encoder = build_encoder({"name": "gru", "d_input": 3, "d_model": 8}).train()
    loader = DataLoader(Subset(series_dataset, range(20)), batch_size=8)
    features, labels = extract_features(encoder, loader)
    assert features.shape == (20, 8)
    assert labels.shape == (20,)
    assert encoder.training  # mode restored
    sample = series_dataset[3]
    observed = sample["mask"]
    with torch.no_grad():
        latents, _ = encoder.eval().tokens(sample["timeseries"][None], observed[None])
    torch.testing.assert_close(features[3], latents[0, observed].mean(dim=0))


def test_linear_probe_accuracy_on_separable_features() -> None:
    torch.manual_seed(0)
    labels = torch.arange(60) % 3
    features = torch.randn(60, 5) + 10.0 * torch.nn.functional.one_hot(labels, 5).float()
    assert linear_probe_accuracy(features[:40], labels[:40], features[40:], labels[40:]) == 1.0


def test_probe_sees_every_sample_in_order(
    make_config: Any, series_dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def record(xtr: Any, ytr: Any, xva: Any, yva: Any, **kwargs: Any) -> float:
        seen.append((ytr, yva))
        return 0.5

    monkeypatch.setattr(probe_module, "linear_probe_accuracy", record)
    train = DataLoader(
        Subset(series_dataset, range(60)), batch_size=16, shuffle=True, drop_last=True
    )
    val = DataLoader(Subset(series_dataset, range(60, 80)), batch_size=16)
    callback = LinearProbeEvaluation()
    trainer = make_trainer(max_epochs=1, callbacks=[callback])
    trainer.fit(SSLPretrainModule(make_config()), train, val)
    expected_train = torch.tensor([series_dataset[i]["label"] for i in range(60)])
    assert len(seen) == 2  # pretrained, then random init
    for ytr, yva in seen:
        torch.testing.assert_close(ytr, expected_train)  # not 48 shuffled ones
        assert yva.shape == (20,)
    assert callback.results["pretrained_acc"] == 0.5
    assert float(trainer.callback_metrics["probe/random_init_acc"]) == 0.5


def test_probe_needs_validation_data(make_config: Any, loaders: tuple[Any, Any]) -> None:
    trainer = make_trainer(max_epochs=1, limit_train_batches=1, callbacks=[LinearProbeEvaluation()])
    with pytest.raises(RuntimeError, match=r"needs train and validation dataloaders"):
        trainer.fit(SSLPretrainModule(make_config()), train_dataloaders=loaders[0])


def test_probe_against_random_init_baseline_depends_on_its_seed_only(
    series_dataset: Any,
) -> None:
    config = {"name": "gru", "d_input": 3, "d_model": 8}
    encoder = build_encoder(config)
    loader = DataLoader(Subset(series_dataset, range(40)), batch_size=20)
    torch.manual_seed(1)
    first = probe_against_random_init(encoder, config, loader, loader, seed=3)
    torch.manual_seed(2)  # another caller state, the same baseline
    assert probe_against_random_init(encoder, config, loader, loader, seed=3) == first
    assert set(first) == {"pretrained_acc", "random_init_acc"}
