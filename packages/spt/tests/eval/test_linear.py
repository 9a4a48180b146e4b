"""Offline linear evaluation against scikit-learn's LogisticRegression on the same features."""

from __future__ import annotations

import pytest
import torch

from spt.eval import Features, linear_scores

sklearn = pytest.importorskip("sklearn")


def _digits_pixels() -> tuple[Features, Features]:
    """The 8x8 digits as 64 raw pixel features, split as spt_data.digits splits them."""
    import spt_data

    def features(split: str) -> Features:
        data = spt_data.digits(split, size=8, rgb=False)
        x = torch.stack(
            [torch.as_tensor(data[i]["image"]).float().flatten() for i in range(len(data))]
        )
        y = torch.tensor([int(data[i]["label"]) for i in range(len(data))])
        return Features(x, y, torch.arange(len(y)))

    return features("train"), features("test")


def test_linear_top1_is_within_two_points_of_logistic_regression() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, test = _digits_pixels()
    result = linear_scores(train, test, lrs=(0.1, 1.0), weight_decays=(0.0, 1e-3), epochs=50)
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    reference.fit(train.embedding.numpy(), train.label.numpy())
    expected = reference.score(test.embedding.numpy(), test.label.numpy())
    assert abs(result["metrics"]["linear/top1"] - expected) <= 0.02
    assert len(result["grid"]) == 4
    chosen = max(result["grid"], key=lambda g: g["val_top1"])
    assert (result["lr"], result["weight_decay"]) == (chosen["lr"], chosen["weight_decay"])


def test_linear_evaluation_is_deterministic_for_a_seed() -> None:
    train, test = _digits_pixels()
    kwargs = {"lrs": (0.1,), "weight_decays": (0.0, 1e-4), "epochs": 5}
    first = linear_scores(train, test, seed=3, **kwargs)
    again = linear_scores(train, test, seed=3, **kwargs)
    assert first == again


def test_val_fraction_outside_zero_one_is_refused() -> None:
    train, test = _digits_pixels()
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\), got 1.0"):
        linear_scores(train, test, val_fraction=1.0)
