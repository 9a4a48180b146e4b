"""RankMe and Uniformity against plain numpy / torch references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spt_callbacks import RankMe, Uniformity, alignment, dimension_std, rankme, uniformity
from spt_module.testing import DictOutputModule, make_dataloader, make_trainer


def reference_rankme(z: np.ndarray, eps: float = 1e-7) -> float:
    s = np.linalg.svd(z.astype(np.float64), compute_uv=False)
    p = s / np.abs(s).sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


@pytest.mark.parametrize("shape", [(200, 16), (10, 32)])
def test_rankme_matches_numpy_svd(shape: tuple[int, int]) -> None:
    z = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    z[:, :4] *= 10  # an uneven spectrum
    want = reference_rankme(z.numpy())
    assert float(rankme(z)) == pytest.approx(want, rel=1e-4)
    assert float(rankme([z[:7], z[7:]])) == pytest.approx(want, rel=1e-4)


def test_rankme_of_collapsed_embeddings_is_one() -> None:
    # Rank 1: p = (1 + eps, eps, ..., eps), so RankMe is 1 up to terms of order eps * log(eps).
    z = torch.randn(50, 1, generator=torch.Generator().manual_seed(0)) * torch.linspace(1, 3, 8)
    eps = 1e-7
    exact = np.exp(-(1 + eps) * np.log(1 + eps) - 7 * eps * np.log(eps))
    assert float(rankme(z, eps=eps)) == pytest.approx(exact, rel=1e-5)
    assert float(rankme(z, eps=eps)) == pytest.approx(1.0, abs=1e-4)


def test_uniformity_alignment_std_match_reference() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 6, generator=gen), torch.randn(30, 6, generator=gen)
    xn = x / x.norm(dim=1, keepdim=True)
    yn = y / y.norm(dim=1, keepdim=True)
    pairs = [float(((xn[i] - xn[j]) ** 2).sum()) for i in range(30) for j in range(30) if i < j]
    want = float(np.log(np.mean(np.exp(-2.0 * np.array(pairs)))))
    assert float(uniformity(x)) == pytest.approx(want, rel=1e-5)
    want_align = float(np.mean([float(((xn[i] - yn[i]) ** 2).sum()) for i in range(30)]))
    assert float(alignment(x, y)) == pytest.approx(want_align, rel=1e-5)
    assert float(dimension_std([x[:10], x[10:]])) == pytest.approx(
        float(np.std(xn.numpy(), axis=0, ddof=1).mean()), rel=1e-5
    )


def test_rankme_callback_logs_rank_of_queue() -> None:
    monitor = RankMe(name="rank", input="embedding", queue_length=40, every_n_steps=2)
    trainer = make_trainer(max_epochs=1, callbacks=[monitor])
    trainer.fit(DictOutputModule(hidden=16), make_dataloader(n=64, batch_size=16))
    queued = torch.cat(monitor._queues.recent("embedding"))
    assert queued.shape == (40, 16)
    logged = trainer.callback_metrics["rank/rankme"]
    assert float(logged) == pytest.approx(reference_rankme(queued.numpy()), rel=1e-4)
    assert monitor.batches_seen == 4


def test_uniformity_callback_logs_all_three() -> None:
    monitor = Uniformity(
        name="uni", input="embedding", queue_length=32, every_n_steps=1, pair="logits_pair"
    )

    class PairModule(DictOutputModule):
        def _step(self, batch):
            out = super()._step(batch)
            out["logits_pair"] = out["embedding"] + 0.1
            return out

    trainer = make_trainer(max_epochs=1, callbacks=[monitor])
    trainer.fit(PairModule(hidden=16), make_dataloader(n=32, batch_size=16))
    queued = torch.cat(monitor._queues.recent("embedding"))
    metrics = trainer.callback_metrics
    assert float(metrics["uni/uniformity"]) == pytest.approx(float(uniformity(queued)), rel=1e-5)
    assert float(metrics["uni/std"]) == pytest.approx(float(dimension_std(queued)), rel=1e-5)
    assert "uni/alignment" in metrics


def test_monitor_rejects_bad_every_n_steps() -> None:
    with pytest.raises(ValueError, match="every_n_steps"):
        RankMe(name="r", input="embedding", queue_length=10, every_n_steps=0)


class _FakeEvent:
    """Stands in for the torch.cuda.Event of an asynchronous device-to-host copy."""

    def __init__(self) -> None:
        self.done = False

    def query(self) -> bool:
        return self.done


def test_rankme_deferred_measurement_is_logged_once_the_copy_is_done() -> None:
    # The CUDA path: measure() leaves the Gram matrix in flight; ready() decomposes it only
    # when its copy has finished, and only once.
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    monitor = RankMe(name="rank", input="embedding", queue_length=64, every_n_steps=1)
    event = _FakeEvent()
    monitor._in_flight = (z.double().T @ z.double(), event)
    assert monitor.ready() == {}
    event.done = True
    values = monitor.ready()
    assert float(values["rankme"]) == pytest.approx(reference_rankme(z.numpy()), rel=1e-5)
    assert monitor.ready() == {}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_rankme_on_cuda_logs_reference_value_without_sync() -> None:
    monitor = RankMe(name="rank", input="embedding", queue_length=40, every_n_steps=4)
    trainer = make_trainer(max_epochs=2, accelerator="cuda", callbacks=[monitor])
    trainer.fit(DictOutputModule(hidden=16), make_dataloader(n=64, batch_size=16))
    torch.cuda.synchronize()
    assert "rank/rankme" in trainer.callback_metrics
    assert float(trainer.callback_metrics["rank/rankme"]) >= 1.0
