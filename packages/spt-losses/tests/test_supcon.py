"""SupConLoss against the paper's L_out written one anchor, positive and candidate at a time."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from spt_losses import NTXEntLoss, SupConLoss

F64 = torch.float64


def supcon_formula(views: list[Tensor], labels: Tensor, temperature: float) -> Tensor:
    """Khosla et al. (2020), eq. 2: for each anchor i of the V*B rows,
    -1/|P(i)| sum_{p in P(i)} log(exp(z_i.z_p/t) / sum_{a != i} exp(z_i.z_a/t)),
    averaged over the anchors with at least one positive (0 if there is none)."""
    rows = [F.normalize(v[i], dim=0) for v in views for i in range(v.shape[0])]
    row_labels = [int(labels[i]) for _ in views for i in range(labels.shape[0])]
    n = len(rows)
    total = torch.zeros((), dtype=rows[0].dtype)
    anchors = 0
    for i in range(n):
        candidates = [a for a in range(n) if a != i]
        positives = [p for p in candidates if row_labels[p] == row_labels[i]]
        if not positives:
            continue
        denominator = sum(torch.exp(rows[i] @ rows[a] / temperature) for a in candidates)
        anchor_loss = torch.zeros((), dtype=rows[0].dtype)
        for p in positives:
            anchor_loss = anchor_loss - torch.log(
                torch.exp(rows[i] @ rows[p] / temperature) / denominator
            )
        total = total + anchor_loss / len(positives)
        anchors += 1
    if not anchors:  # no positive anywhere: 0, still a function of the views
        return 0.0 * sum(v.sum() for v in views)
    return total / anchors


def _views(n_views: int, batch: int, dim: int, seed: int) -> list[Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, dim, generator=gen, dtype=F64).requires_grad_() for _ in range(n_views)
    ]


def _values_and_grads(loss_of: object, views: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    assert callable(loss_of)
    loss = loss_of(*views)
    grads = torch.autograd.grad(loss, views)
    return loss.detach(), list(grads)


# labels with a class of one sample (5), classes of two and three, and all of one class
LABELS = {
    "singleton_class": [0, 1, 0, 2, 5, 1, 2],
    "mixed_sizes": [3, 3, 3, 1, 1, 4, 0],
    "one_class": [7, 7, 7, 7, 7, 7, 7],
    "all_distinct": [0, 1, 2, 3, 4, 5, 6],
}


@pytest.mark.parametrize("n_views", [1, 2, 3, 4])
@pytest.mark.parametrize("labels_case", sorted(LABELS))
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_supcon_loss_matches_paper_formula(
    n_views: int, labels_case: str, temperature: float
) -> None:
    labels = torch.tensor(LABELS[labels_case])
    views = _views(n_views, labels.shape[0], dim=5, seed=n_views * 10 + len(labels_case))
    loss_fn = SupConLoss(temperature=temperature)
    loss, grads = _values_and_grads(lambda *v: loss_fn(*v, labels=labels), views)
    expected, expected_grads = _values_and_grads(
        lambda *v: supcon_formula(list(v), labels, temperature), views
    )
    assert loss.dtype == F64
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    for g, e in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


def test_supcon_without_any_positive_is_zero_with_zero_gradient() -> None:
    views = _views(1, 4, dim=3, seed=1)  # one view, every sample its own class
    loss = SupConLoss()(*views, labels=torch.tensor([0, 1, 2, 3]))
    (grad,) = torch.autograd.grad(loss, views)
    assert loss.item() == 0.0
    assert torch.count_nonzero(grad) == 0


@pytest.mark.parametrize("n_views", [2, 3])
def test_supcon_without_labels_is_ntxent(n_views: int) -> None:
    views = _views(n_views, 6, dim=4, seed=n_views)
    loss, grads = _values_and_grads(lambda *v: SupConLoss(0.3)(*v), views)
    expected, expected_grads = _values_and_grads(lambda *v: NTXEntLoss(0.3)(*v), views)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    for g, e in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


def test_supcon_float64_passes_gradcheck() -> None:
    views = _views(2, 5, dim=3, seed=3)
    labels = torch.tensor([0, 1, 0, 2, 1])
    assert torch.autograd.gradcheck(lambda *v: SupConLoss(0.2)(*v, labels=labels), views)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_supcon_under_autocast_is_finite_float32_and_close_to_float32(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x = (30 * torch.randn(2, 32, 16)).requires_grad_()  # large norms, logits up to 1 / 0.05
    labels = torch.randint(0, 4, (32,))
    loss_fn = SupConLoss(temperature=0.05)
    with torch.autocast("cpu", dtype=dtype):
        z = torch.nn.Identity()(x) @ torch.eye(16)  # embeddings produced in dtype
        loss = loss_fn(z[0], z[1], labels=labels)
    loss.backward()
    assert x.grad is not None
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss)
    assert torch.isfinite(x.grad).all()
    expected = loss_fn(x[0], x[1], labels=labels)
    torch.testing.assert_close(loss, expected, rtol=0.05, atol=0.05)


def test_supcon_rejects_bad_labels_with_their_shape() -> None:
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"labels must be integer .* \(4,\); got .* \(3,\)"):
        SupConLoss()(z, z, labels=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"torch\.float32"):
        SupConLoss()(z, z, labels=torch.zeros(4))


def test_supcon_rejects_views_of_different_shapes() -> None:
    with pytest.raises(ValueError, match=r"view 0 and view 1 must have the same shape"):
        SupConLoss()(torch.randn(4, 3), torch.randn(5, 3), labels=torch.zeros(4).long())


def test_supcon_rejects_a_non_positive_temperature() -> None:
    with pytest.raises(ValueError, match="temperature must be > 0; got 0"):
        SupConLoss(temperature=0)
