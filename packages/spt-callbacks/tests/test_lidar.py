"""LiDAR against a plain NumPy reference, and the callback on multi-view training batches."""

from __future__ import annotations

from typing import Any

import lightning as pl
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from spt_callbacks import LiDAR, lidar
from spt_module.testing import make_trainer


def reference_lidar(
    z: np.ndarray, ids: np.ndarray, delta: float = 1e-4, eps: float = 1e-7
) -> float:
    """The paper's formulas, one class (source sample) at a time, in float64."""
    z = z.astype(np.float64)
    classes = [c for c in np.unique(ids) if (ids == c).sum() >= 2]
    means = np.stack([z[ids == c].mean(axis=0) for c in classes])
    rows = np.concatenate([z[ids == c] - z[ids == c].mean(axis=0) for c in classes])
    d = z.shape[1]
    s_w = sum(np.outer(r, r) for r in rows) / len(rows) + delta * np.eye(d)
    grand = means.mean(axis=0)
    s_b = sum(np.outer(m - grand, m - grand) for m in means) / len(classes)
    w, u = np.linalg.eigh(s_w)
    inv_sqrt = u @ np.diag(w**-0.5) @ u.T
    lam = np.clip(np.linalg.eigvalsh(inv_sqrt @ s_b @ inv_sqrt), 0, None)
    p = lam / lam.sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def _views(n: int, views: int, d: int, noise: float, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """``views`` noisy copies of ``n`` samples, views stacked: (views * n, d) and the ids."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(n, d, generator=gen)
    centres[:, :3] *= 5  # an uneven spectrum
    z = torch.cat([centres + noise * torch.randn(n, d, generator=gen) for _ in range(views)])
    return z, torch.arange(n).repeat(views)


@pytest.mark.parametrize(("n", "views", "d"), [(40, 2, 8), (12, 4, 16)])
def test_lidar_matches_numpy_reference(n: int, views: int, d: int) -> None:
    z, ids = _views(n, views, d, noise=0.3)
    want = reference_lidar(z.numpy(), ids.numpy())
    assert float(lidar(z, ids)) == pytest.approx(want, rel=1e-5)
    assert float(lidar([z[:7], z[7:]], [ids[:7], ids[7:]])) == pytest.approx(want, rel=1e-5)


def test_lidar_leaves_out_samples_with_one_view() -> None:
    z, ids = _views(20, 2, 8, noise=0.3)
    single = torch.randn(3, 8, generator=torch.Generator().manual_seed(5))
    with_singles = torch.cat([single, z]), torch.cat([torch.tensor([100, 101, 102]), ids])
    assert float(lidar(*with_singles)) == pytest.approx(float(lidar(z, ids)), rel=1e-6)
    assert float(lidar(*with_singles)) == pytest.approx(
        reference_lidar(with_singles[0].numpy(), with_singles[1].numpy()), rel=1e-5
    )


def test_lidar_of_views_spread_along_one_direction_is_about_one() -> None:
    # Class means differ along one direction only; S_b has rank 1.
    gen = torch.Generator().manual_seed(0)
    means = torch.zeros(30, 6)
    means[:, 0] = torch.randn(30, generator=gen) * 10
    z = torch.cat([means + 0.1 * torch.randn(30, 6, generator=gen) for _ in range(3)])
    value = float(lidar(z, torch.arange(30).repeat(3)))
    assert value == pytest.approx(reference_lidar(z.numpy(), np.tile(np.arange(30), 3)), rel=1e-5)
    assert 1.0 <= value < 1.1


def test_lidar_needs_two_samples_with_two_views() -> None:
    with pytest.raises(ValueError, match="fewer than two samples have two or more views"):
        lidar(torch.randn(4, 3), torch.arange(4))
    with pytest.raises(ValueError, match=r"one id per row"):
        lidar(torch.randn(4, 3), torch.arange(3))


class _TwoViewEmbeddings(pl.LightningModule):
    """Multi-view batches (a list of view dicts); the embedding is the views' inputs stacked."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))

    def training_step(self, batch: list[dict[str, Any]], batch_idx: int) -> dict[str, Any]:
        embedding = torch.cat([view["x"] for view in batch])  # (V*B, D)
        return {"loss": self.weight**2, "embedding": embedding}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _two_view_samples(n: int = 48, d: int = 6) -> list[list[dict[str, Any]]]:
    z, _ = _views(n, 2, d, noise=0.4)
    return [[{"x": z[i], "sample_idx": i}, {"x": z[n + i], "sample_idx": i}] for i in range(n)]


def test_lidar_callback_reads_sample_idx_from_the_view_batches() -> None:
    monitor = LiDAR(name="lidar", input="embedding", queue_length=60, every_n_steps=3)
    trainer = make_trainer(callbacks=[monitor])
    trainer.fit(_TwoViewEmbeddings(), DataLoader(_two_view_samples(), batch_size=8))
    queued = torch.cat(monitor._queues.recent("embedding"))
    ids = torch.cat(monitor._queues.recent("sample_idx"))
    assert queued.shape == (60, 6)
    assert ids.shape == (60,)
    # The 4 oldest rows are second views whose first views left the queue: left out.
    assert int((torch.bincount(ids) == 1).sum()) == 4
    assert float(trainer.callback_metrics["lidar/lidar"]) == pytest.approx(
        reference_lidar(queued.numpy(), ids.numpy()), rel=1e-5
    )
    assert monitor.batches_seen == 6


def test_lidar_callback_state_round_trip() -> None:
    monitor = LiDAR(name="lidar", input="embedding", queue_length=32, every_n_steps=2)
    trainer = make_trainer(callbacks=[monitor])
    trainer.fit(_TwoViewEmbeddings(), DataLoader(_two_view_samples(), batch_size=8))
    state = monitor.state_dict()
    assert set(state["queues"]) == {"embedding", "sample_idx"}
    assert state["batches_seen"] == 6
    restored = LiDAR(name="lidar", input="embedding", queue_length=32, every_n_steps=2)
    restored.load_state_dict(state)
    assert restored.state_dict()["batches_seen"] == 6
    assert monitor.state_key == "LiDAR{'name': 'lidar'}"


def test_lidar_callback_missing_sample_idx_names_the_keys() -> None:
    monitor = LiDAR(name="lidar", input="embedding", queue_length=16, every_n_steps=1)
    samples = [[{"x": v["x"]} for v in pair] for pair in _two_view_samples(8)]
    trainer = make_trainer(callbacks=[monitor])
    with pytest.raises(KeyError, match=r"sample_idx='sample_idx' is not in the step outputs"):
        trainer.fit(_TwoViewEmbeddings(), DataLoader(samples, batch_size=4))


def test_lidar_rejects_bad_delta() -> None:
    with pytest.raises(ValueError, match=r"LiDAR 'lidar': delta must be > 0, got 0"):
        LiDAR(name="lidar", input="embedding", queue_length=8, delta=0)


def test_lidar_callback_needs_one_sample_idx_per_row() -> None:
    class _OneIdPerSample(_TwoViewEmbeddings):
        def training_step(self, batch: list[dict[str, Any]], batch_idx: int) -> dict[str, Any]:
            out = super().training_step(batch, batch_idx)
            return {**out, "sample_idx": batch[0]["sample_idx"]}  # (B,) for (2B, D) rows

    monitor = LiDAR(name="lidar", input="embedding", queue_length=16, every_n_steps=1)
    trainer = make_trainer(callbacks=[monitor])
    with pytest.raises(ValueError, match=r"has 8 rows but sample_idx 'sample_idx' has 4"):
        trainer.fit(_OneIdPerSample(), DataLoader(_two_view_samples(8), batch_size=4))
