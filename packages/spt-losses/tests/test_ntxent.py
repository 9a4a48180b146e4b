"""NTXEntLoss against a plain loop over anchors and positives."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from spt_losses import NTXEntLoss, NTXentLoss, _similarity


def reference_ntxent(views: list[Tensor], temperature: float, negatives: Tensor | None) -> Tensor:
    """Average over anchors of the average over positives of -log(exp(pos) / sum(exp(other)))."""
    n_views, batch = len(views), views[0].shape[0]
    rows = [F.normalize(views[v][i], dim=0) for v in range(n_views) for i in range(batch)]
    negs = [] if negatives is None else [F.normalize(n, dim=0) for n in negatives]
    total = torch.zeros((), dtype=views[0].dtype)
    for a in range(n_views * batch):
        denominator = torch.zeros((), dtype=views[0].dtype)
        for b in range(n_views * batch):
            if b != a:
                denominator = denominator + torch.exp(rows[a] @ rows[b] / temperature)
        for n in negs:
            denominator = denominator + torch.exp(rows[a] @ n / temperature)
        anchor_view, sample = divmod(a, batch)
        anchor_loss = torch.zeros((), dtype=views[0].dtype)
        for v in range(n_views):
            if v != anchor_view:
                positive = torch.exp(rows[a] @ rows[v * batch + sample] / temperature)
                anchor_loss = anchor_loss - torch.log(positive / denominator)
        total = total + anchor_loss / (n_views - 1)
    return total / (n_views * batch)


def simclr_formula(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """SimCLR's loss, one anchor at a time: row i of the 2B unit rows has its positive j
    (the other view of its sample) and the mean over anchors of
    -log(exp(sim_ij / T) / sum_{k != i} exp(sim_ik / T)) is the loss."""
    batch = z1.shape[0]
    rows = torch.cat([F.normalize(z1, dim=1), F.normalize(z2, dim=1)])
    n = 2 * batch
    total = torch.zeros((), dtype=rows.dtype)
    for i in range(n):
        j = (i + batch) % n
        denominator = sum(torch.exp(rows[i] @ rows[k] / temperature) for k in range(n) if k != i)
        total = total - torch.log(torch.exp(rows[i] @ rows[j] / temperature) / denominator)
    return total / n


def masked_matrix_ntxent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """The common matrix form: a full cosine-similarity matrix, exp of all of it, and a
    float mask that zeroes the self-similarities in the denominator."""
    batch_size = z1.shape[0]
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    reps = torch.cat([z1, z2], dim=0)
    sim = F.cosine_similarity(reps.unsqueeze(1), reps.unsqueeze(0), dim=2)
    positives = torch.cat([torch.diag(sim, batch_size), torch.diag(sim, -batch_size)])
    nominator = torch.exp(positives / temperature)
    mask = (~torch.eye(2 * batch_size, 2 * batch_size, dtype=torch.bool)).to(sim.dtype)
    denominator = mask * torch.exp(sim / temperature)
    return torch.mean(-torch.log(nominator / torch.sum(denominator, dim=1)))


def _compare(n_views: int, temperature: float, n_negatives: int, dim: int = 7) -> None:
    gen = torch.Generator().manual_seed(n_views * 100 + n_negatives)
    views = [torch.randn(5, dim, generator=gen, requires_grad=True) for _ in range(n_views)]
    negatives = torch.randn(n_negatives, dim, generator=gen) if n_negatives else None
    ref_views = [v.detach().double().requires_grad_() for v in views]
    ref_negatives = None if negatives is None else negatives.double()

    loss = NTXEntLoss(temperature)(*views, negatives=negatives)
    expected = reference_ntxent(ref_views, temperature, ref_negatives)
    loss.backward()
    expected.backward()

    torch.testing.assert_close(loss, expected.float(), rtol=1e-5, atol=1e-5)
    for v, r in zip(views, ref_views, strict=True):
        assert v.grad is not None
        assert r.grad is not None
        torch.testing.assert_close(v.grad, r.grad.float(), rtol=1e-5, atol=1e-5)


@pytest.fixture(params=["gram", "matmul"])
def similarity_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test through both ways of computing the logits of one process."""
    gram = request.param == "gram"
    monkeypatch.setattr(_similarity, "prefers_gram", lambda rows, dim: gram)
    return str(request.param)


@pytest.mark.parametrize("temperature", [0.5, 0.1])
def test_two_views_match_reference(temperature: float, similarity_path: str) -> None:
    _compare(2, temperature, 0)


def test_three_views_average_the_pairwise_losses(similarity_path: str) -> None:
    _compare(3, 0.2, 0)


def test_negatives_queue_joins_the_denominator() -> None:
    _compare(2, 0.3, 11)


def test_three_views_with_negatives() -> None:
    _compare(3, 0.3, 4)


@pytest.mark.parametrize("n_views", [2, 3])
def test_wide_embeddings_match_reference(n_views: int, similarity_path: str) -> None:
    _compare(n_views, 0.2, 0, dim=_similarity.GRAM_MIN_DIM)


@pytest.mark.parametrize(
    ("rows", "dim", "gram"), [(512, 128, True), (1024, 128, False), (4096, 1024, True)]
)
def test_gram_path_for_small_batches_or_wide_embeddings(rows: int, dim: int, gram: bool) -> None:
    assert _similarity.prefers_gram(rows, dim) is gram


def test_two_views_match_masked_matrix_formula(similarity_path: str) -> None:
    z1, z2 = torch.randn(16, 32), torch.randn(16, 32)
    torch.testing.assert_close(
        NTXEntLoss(0.5)(z1, z2), masked_matrix_ntxent(z1, z2, 0.5), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("temperature", [0.5, 0.07])
def test_ntxent_equals_simclr_formula_float64(temperature: float, similarity_path: str) -> None:
    gen = torch.Generator().manual_seed(5)
    z1 = torch.randn(6, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(6, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    r1 = z1.detach().clone().requires_grad_()
    r2 = z2.detach().clone().requires_grad_()

    loss = NTXEntLoss(temperature)(z1, z2)
    expected = simclr_formula(r1, r2, temperature)
    loss.backward()
    expected.backward()
    assert loss.dtype == torch.float64
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    for z, r in [(z1, r1), (z2, r2)]:
        assert z.grad is not None
        assert r.grad is not None
        assert z.grad.dtype == torch.float64
        torch.testing.assert_close(z.grad, r.grad, rtol=1e-12, atol=1e-12)


def test_ntxent_with_views_and_negatives_equals_reference_float64() -> None:
    gen = torch.Generator().manual_seed(6)
    views = [torch.randn(4, 5, generator=gen, dtype=torch.float64) for _ in range(3)]
    negatives = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    views = [v.requires_grad_() for v in views]
    ref_views = [v.detach().clone().requires_grad_() for v in views]

    loss = NTXEntLoss(0.2)(*views, negatives=negatives)
    expected = reference_ntxent(ref_views, 0.2, negatives)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    for v, r in zip(views, ref_views, strict=True):
        assert v.grad is not None
        assert r.grad is not None
        torch.testing.assert_close(v.grad, r.grad, rtol=1e-12, atol=1e-12)


def test_identical_views_far_from_others_give_low_loss() -> None:
    z = torch.eye(8) * 3
    loss = NTXEntLoss(0.05)(z, z)
    # positive logit 20, others 0: loss = log(1 + 14 * exp(-20))
    assert math.isclose(loss.item(), math.log1p(14 * math.exp(-20)), abs_tol=1e-6)


def test_alias_is_the_same_class() -> None:
    assert NTXentLoss is NTXEntLoss


def test_rejects_non_positive_temperature() -> None:
    with pytest.raises(ValueError, match="temperature"):
        NTXEntLoss(0.0)


def test_rejects_a_single_view() -> None:
    with pytest.raises(ValueError, match="at least two views"):
        NTXEntLoss()(torch.randn(4, 8))


def test_mismatched_views_name_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(4, 8\) and \(5, 8\)"):
        NTXEntLoss()(torch.randn(4, 8), torch.randn(5, 8))


def test_wrong_rank_gives_the_shape() -> None:
    with pytest.raises(ValueError, match=r"\(B, D\).*\(4, 8, 2\)"):
        NTXEntLoss()(torch.randn(4, 8, 2), torch.randn(4, 8, 2))


def test_negatives_of_wrong_width_name_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(10, 7\).*\(4, 8\)"):
        NTXEntLoss()(torch.randn(4, 8), torch.randn(4, 8), negatives=torch.randn(10, 7))
