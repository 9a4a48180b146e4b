"""Retrieval mAP@k and recall@k against a NumPy loop, and the callback on validation steps."""

from __future__ import annotations

from typing import Any

import lightning as pl
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from spt_callbacks import Retrieval, retrieval_metrics
from spt_module.testing import make_trainer


def reference_retrieval(z: np.ndarray, y: np.ndarray, ks: list[int]) -> dict[str, float]:
    """Every row a query against all other rows, one query at a time."""
    z = z.astype(np.float64)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    aps: dict[int, list[float]] = {k: [] for k in ks}
    hits: dict[int, list[float]] = {k: [] for k in ks}
    for q in range(len(z)):
        gallery = [i for i in range(len(z)) if i != q]
        order = sorted(gallery, key=lambda i: -float(z[q] @ z[i]))
        rel = [float(y[i] == y[q]) for i in order]
        n_relevant = sum(rel)
        if n_relevant == 0:
            continue
        for k in ks:
            found, total = 0.0, 0.0
            for i, r in enumerate(rel[:k], start=1):
                found += r
                total += r * found / i
            aps[k].append(total / min(k, n_relevant))
            hits[k].append(float(any(rel[:k])))
    out = {f"map@{k}": float(np.mean(aps[k])) for k in ks}
    out.update({f"recall@{k}": float(np.mean(hits[k])) for k in ks})
    return out


def _clusters(n: int = 60, d: int = 8, classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=gen)
    centres = torch.randn(classes, d, generator=gen)
    return centres[y] + 0.9 * torch.randn(n, d, generator=gen), y


@pytest.mark.parametrize("max_elements", [2**22, 100])
def test_retrieval_matches_numpy_loop(max_elements: int) -> None:
    z, y = _clusters()
    ks = [1, 5, 10, 100]  # 100 is clipped to the 59 gallery rows
    got = retrieval_metrics(z.double(), y, ks, max_elements=max_elements)
    want = reference_retrieval(z.numpy(), y.numpy(), ks)
    assert set(got) == set(want)
    for key, value in want.items():
        assert float(got[key]) == pytest.approx(value, abs=1e-7), key
    assert got["map@1"].dtype == torch.float32


def test_retrieval_of_segments_equals_whole() -> None:
    z, y = _clusters()
    whole = retrieval_metrics(z, y, k=5)
    split = retrieval_metrics([z[:17], z[17:]], [y[:17], y[17:]], k=5)
    assert {k: float(v) for k, v in whole.items()} == {k: float(v) for k, v in split.items()}


def test_retrieval_leaves_out_queries_without_relevant_rows() -> None:
    z, y = _clusters(n=20)
    y_alone = torch.cat([y, torch.tensor([99])])  # a label no other row has
    z_alone = torch.cat([z, torch.randn(1, 8)])
    got = retrieval_metrics(z_alone.double(), y_alone, k=[1, 3])
    want = reference_retrieval(z_alone.numpy(), y_alone.numpy(), [1, 3])
    for key, value in want.items():
        assert float(got[key]) == pytest.approx(value, abs=1e-7), key
    assert retrieval_metrics(torch.randn(3, 2), torch.tensor([0, 1, 2])) == {}


def test_retrieval_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match=r"k must be a positive int or a list of them, got 0"):
        retrieval_metrics(torch.randn(4, 2), torch.zeros(4), k=0)
    with pytest.raises(ValueError, match=r"Retrieval 'r': k must be"):
        Retrieval(name="r", k=[1, -2])


class _ValidationEmbeddings(pl.LightningModule):
    """Validation steps whose embedding is the input itself."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self.weight**2

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return {"embedding": batch["x"], "label": batch["label"]}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loaders(z: torch.Tensor, y: torch.Tensor) -> tuple[DataLoader[Any], DataLoader[Any]]:
    samples = [{"x": x, "label": label} for x, label in zip(z, y, strict=True)]
    return DataLoader(samples[:8], batch_size=8), DataLoader(samples, batch_size=16)


def test_retrieval_callback_logs_metrics_of_the_validation_set() -> None:
    z, y = _clusters()
    retrieval = Retrieval(name="retrieval", k=[1, 10])
    trainer = make_trainer(max_epochs=2, callbacks=[retrieval])
    trainer.fit(_ValidationEmbeddings(), *_loaders(z, y))
    want = reference_retrieval(z.numpy(), y.numpy(), [1, 10])
    for key, value in want.items():
        logged = trainer.callback_metrics[f"retrieval/val/{key}"]
        assert float(logged) == pytest.approx(value, abs=1e-6), key
    assert torch.cat(retrieval._embeddings.recent()).shape == (60, 8)  # emptied each epoch


def test_retrieval_callback_keeps_the_most_recent_queue_length_samples() -> None:
    z, y = _clusters()
    retrieval = Retrieval(name="retrieval", queue_length=40, k=5)
    trainer = make_trainer(callbacks=[retrieval])
    trainer.fit(_ValidationEmbeddings(), *_loaders(z, y))
    want = reference_retrieval(z[20:].numpy(), y[20:].numpy(), [5])
    assert float(trainer.callback_metrics["retrieval/val/map@5"]) == pytest.approx(
        want["map@5"], abs=1e-6
    )
    assert retrieval.state_dict() == {}


def test_retrieval_callback_missing_label_names_the_keys() -> None:
    class _NoLabel(_ValidationEmbeddings):
        def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
            return {"embedding": batch["x"]}

    z, _ = _clusters(n=16)
    samples = [{"x": x} for x in z]
    trainer = make_trainer(callbacks=[Retrieval(name="retrieval")])
    with pytest.raises(KeyError, match=r"target='label' is not in the step outputs"):
        trainer.fit(_NoLabel(), DataLoader(samples, batch_size=8), DataLoader(samples))
