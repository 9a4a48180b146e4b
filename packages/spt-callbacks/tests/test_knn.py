"""OnlineKNN and knn_predict against a slow, explicit reference."""

from __future__ import annotations

import math

import lightning as pl
import pytest
import torch
import torchmetrics
from torch import nn
from torch.utils.data import DataLoader

from spt_callbacks import OnlineKNN, knn_predict
from spt_module.testing import DictOutputModule, make_dataloader, make_trainer


def reference_knn(queries, bank, labels, num_classes, k, temperature, distance, eps=1e-5):
    """Full distance matrix, then an explicit loop per query.

    Cosine votes ``exp(similarity / temperature)``; Euclidean votes ``1 / (distance + eps)``.
    """
    out = torch.zeros(len(queries), num_classes, dtype=torch.float64)
    for i, q in enumerate(queries.double()):
        if distance == "cosine":
            sims = [float(q @ b / (q.norm() * b.norm())) for b in bank.double()]
        else:
            sims = [-float((q - b).norm()) for b in bank.double()]
        order = sorted(range(len(sims)), key=lambda j: -sims[j])[:k]
        for j in order:
            if distance == "cosine":
                vote = math.exp(sims[j] / temperature)
            else:
                vote = 1.0 / (-sims[j] + eps)
            out[i, int(labels[j])] += vote
        out[i] /= out[i].sum()
    return out.float()


@pytest.mark.parametrize("k", [1, 6, 20])
@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_knn_predict_matches_reference(distance: str, k: int) -> None:
    gen = torch.Generator().manual_seed(0)
    bank = torch.randn(60, 5, generator=gen)
    labels = torch.randint(0, 4, (60,), generator=gen)
    queries = torch.randn(7, 5, generator=gen)
    temperature = 0.5 if distance == "cosine" else 2.0
    got = knn_predict(queries, bank, labels, 4, k=k, temperature=temperature, distance=distance)
    want = reference_knn(queries, bank, labels, 4, k, temperature, distance)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_knn_predict_euclidean_ignores_temperature() -> None:
    gen = torch.Generator().manual_seed(3)
    bank = torch.randn(40, 5, generator=gen)
    labels = torch.randint(0, 4, (40,), generator=gen)
    queries = torch.randn(6, 5, generator=gen)
    cold = knn_predict(queries, bank, labels, 4, k=10, temperature=0.07, distance="euclidean")
    warm = knn_predict(queries, bank, labels, 4, k=10, temperature=5.0, distance="euclidean")
    torch.testing.assert_close(cold, warm)


def _one_near_many_far() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A query at the origin; one class-0 row at distance 0.1, 19 class-1 rows at distance 1.

    Its nearest neighbour says 0; 19 of its 20 nearest neighbours say 1.
    """
    angles = torch.arange(19) * (2 * math.pi / 19)
    far = torch.stack([angles.cos(), angles.sin()], dim=1)  # (19, 2) on the unit circle
    bank = torch.cat([torch.tensor([[0.1, 0.0]]), far])
    labels = torch.tensor([0] + [1] * 19)
    return torch.zeros(1, 2), bank, labels


def test_knn_predict_euclidean_k_matters() -> None:
    query, bank, labels = _one_near_many_far()
    one = knn_predict(query, bank, labels, 2, k=1, distance="euclidean")
    twenty = knn_predict(query, bank, labels, 2, k=20, distance="euclidean")
    assert one.argmax(1).tolist() == [0]
    assert twenty.argmax(1).tolist() == [1]  # the majority of the 20 neighbours
    # Votes 1 / (d + eps): 10 for the near row against 19 for the far ones.
    near, far = 1 / (0.1 + 1e-5), 19 / (1 + 1e-5)
    want = torch.tensor([[near, far]]) / (near + far)
    torch.testing.assert_close(twenty, want)
    torch.testing.assert_close(twenty, reference_knn(query, bank, labels, 2, 20, 0.07, "euclidean"))


class _InputIsEmbedding(pl.LightningModule):
    """Steps whose embedding is the input itself: the kNN bank is the training data."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))

    def training_step(self, batch, batch_idx):
        return {"loss": self.weight**2, "embedding": batch["x"], "label": batch["label"]}

    def validation_step(self, batch, batch_idx):
        return {"embedding": batch["x"], "label": batch["label"]}

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize(("k", "predicted"), [(1, 0), (20, 1)])
def test_online_knn_euclidean_k_matters(k: int, predicted: int) -> None:
    query, bank, labels = _one_near_many_far()
    train = [{"x": x, "label": y} for x, y in zip(bank, labels, strict=True)]
    # The query's label is the prediction, so top-1 accuracy 1 means "predicted that class".
    val = [{"x": query[0], "label": torch.tensor(predicted)}]
    knn = OnlineKNN(
        name="knn",
        input="embedding",
        target="label",
        queue_length=20,
        k=k,
        distance="euclidean",
        num_classes=2,
    )
    trainer = make_trainer(callbacks=[knn])
    trainer.fit(_InputIsEmbedding(), DataLoader(train, batch_size=20), DataLoader(val))
    assert float(trainer.callback_metrics["knn/val/top1"]) == 1.0


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_knn_predict_chunked_equals_unchunked(distance: str) -> None:
    gen = torch.Generator().manual_seed(1)
    bank = torch.randn(503, 16, generator=gen)
    labels = torch.randint(0, 10, (503,), generator=gen)
    queries = torch.randn(37, 16, generator=gen)
    whole = knn_predict(queries, bank, labels, 10, k=20, distance=distance, max_elements=10**9)
    # 20 * 37 elements: single-query blocks against chunks of 20 bank rows.
    chunked = knn_predict(queries, bank, labels, 10, k=20, distance=distance, max_elements=20)
    segmented = knn_predict(
        queries, [bank[:100], bank[100:]], labels, 10, k=20, distance=distance, max_elements=300
    )
    torch.testing.assert_close(chunked, whole)
    torch.testing.assert_close(segmented, whole)


def test_knn_predict_k_larger_than_bank() -> None:
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    scores = knn_predict(torch.tensor([[1.0, 0.1]]), bank, torch.tensor([0, 1]), 3, k=10)
    assert scores.shape == (1, 3)
    assert scores[0, 0] > scores[0, 1] > 0
    assert scores[0, 2] == 0


def _fit_knn(knn: OnlineKNN, epochs: int = 1):
    trainer = make_trainer(max_epochs=epochs, callbacks=[knn])
    module = DictOutputModule(hidden=16, num_classes=3)
    trainer.fit(module, make_dataloader(n=48, batch_size=16), make_dataloader(n=32, seed=1))
    return trainer, module


def test_online_knn_logs_accuracy_of_reference() -> None:
    knn = OnlineKNN(name="knn", input="embedding", target="label", queue_length=32, k=5)
    trainer, module = _fit_knn(knn)
    bank = torch.cat(knn._queues.recent("embedding"))
    labels = torch.cat(knn._queues.recent("label"))
    assert bank.shape == (32, 16)
    data = make_dataloader(n=32, seed=1).dataset
    with torch.no_grad():
        val_embedding = module.backbone(data.x)
    scores = reference_knn(val_embedding, bank, labels, 3, 5, 0.07, "cosine")
    expected = (scores.argmax(1) == data.label).float().mean()
    assert torch.isclose(trainer.callback_metrics["knn/val/top1"], expected)


def test_online_knn_with_metrics_dict() -> None:
    metric = torchmetrics.classification.MulticlassAccuracy(3)
    knn = OnlineKNN(
        name="knn",
        input="embedding",
        target="label",
        queue_length=100,
        input_dim=16,
        metrics={"accuracy": metric},
        k=3,
    )
    assert knn.num_classes == 3
    trainer, _ = _fit_knn(knn)
    assert "knn/val/accuracy" in trainer.callback_metrics


def test_online_knn_missing_key_names_returned_keys() -> None:
    knn = OnlineKNN(name="knn", input="features", target="label", queue_length=10, k=5)
    with pytest.raises(KeyError, match="features") as info:
        _fit_knn(knn)
    assert "embedding" in str(info.value)
    assert "logits" in str(info.value)


def test_online_knn_input_dim_mismatch_says_both() -> None:
    knn = OnlineKNN(
        name="knn", input="embedding", target="label", queue_length=10, k=5, input_dim=512
    )
    with pytest.raises(ValueError, match="512") as info:
        _fit_knn(knn)
    assert "16" in str(info.value)


def test_online_knn_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="distance"):
        OnlineKNN(name="knn", input="e", target="l", queue_length=10, distance="manhattan")
    with pytest.raises(ValueError, match="queue_length"):
        OnlineKNN(name="knn", input="e", target="l", queue_length=0)
    with pytest.raises(TypeError, match="metrics"):
        OnlineKNN(name="knn", input="e", target="l", queue_length=3, k=3, metrics={"a": 1})


def test_online_knn_refuses_more_neighbours_than_the_queue_holds() -> None:
    with pytest.raises(ValueError, match=r"k=20 neighbours exceeds queue_length=8") as info:
        OnlineKNN(name="knn", input="embedding", target="label", queue_length=8, k=20)
    assert "pass k<=8 or queue_length>=20" in str(info.value)
    assert OnlineKNN(name="knn", input="e", target="l", queue_length=8, k=8).k == 8


def test_knn_predict_million_entry_queue_in_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    import spt_callbacks.knn as knn_module

    gen = torch.Generator().manual_seed(2)
    bank = torch.randn(1_000_000, 4, generator=gen)
    labels = torch.randint(0, 5, (1_000_000,), generator=gen)
    queries = torch.randn(8, 4, generator=gen)
    largest = 0
    similarity = knn_module._similarity

    def recording(q: torch.Tensor, chunk: torch.Tensor, distance: str) -> torch.Tensor:
        nonlocal largest
        out = similarity(q, chunk, distance)
        largest = max(largest, out.numel())
        return out

    monkeypatch.setattr(knn_module, "_similarity", recording)
    got = knn_predict(queries, bank, labels, 5, k=20, max_elements=2**16)
    assert largest <= 2**16  # never the (8, 1_000_000) matrix
    # Reference: the whole similarity matrix at once, then the same vote.
    sims = (
        torch.nn.functional.normalize(queries, dim=1) @ torch.nn.functional.normalize(bank, dim=1).T
    )
    top, idx = sims.topk(20, dim=1)
    weights = ((top - top[:, :1]) / 0.07).exp()
    want = torch.zeros(8, 5).scatter_add_(1, labels[idx], weights)
    torch.testing.assert_close(got, want / want.sum(1, keepdim=True))
