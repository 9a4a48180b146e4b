"""Three supervised steps through spt.Module equal a plain PyTorch classification loop.

The reference is the textbook loop: logits of the classifier on the backbone's features,
the (label-smoothed) cross-entropy written out as ``-sum_c q_c log softmax(logits)_c`` with
``q = (1 - eps) onehot + eps / C``, averaged over the batch, then an optimizer step.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt_module.testing import assert_same_weights, make_trainer

N, BATCH, EMBED, CLASSES = 24, 8, 8, 3
STEPS = N // BATCH
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to ~1e-15


class LabelledImages(Dataset[dict[str, Any]]):
    """Fixed 8x8 images with labels, float64."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.images = torch.randn(N, 1, 8, 8, generator=gen, dtype=torch.float64)
        self.labels = torch.randint(0, CLASSES, (N,), generator=gen)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i], "label": self.labels[i]}


def _batches() -> Iterator[tuple[Tensor, Tensor]]:
    data = LabelledImages()
    for start in range(0, N, BATCH):
        yield data.images[start : start + BATCH], data.labels[start : start + BATCH]


def _build(label_smoothing: float) -> spt.Module:
    torch.manual_seed(0)
    module = spt.methods.supervised(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        EMBED,
        num_classes=CLASSES,
        label_smoothing=label_smoothing,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def cross_entropy(logits: Tensor, labels: Tensor, eps: float) -> Tensor:
    """Label-smoothed cross-entropy, written out."""
    log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # log softmax
    onehot = torch.zeros_like(logits).scatter_(1, labels[:, None], 1.0)
    q = (1 - eps) * onehot + eps / logits.shape[1]
    return -(q * log_p).sum(dim=1).mean()


def supervised_loop(f: nn.Module, classifier: nn.Module, eps: float) -> None:
    params = [*f.parameters(), *classifier.parameters()]
    optimizer = torch.optim.SGD(params, **{k: v for k, v in OPTIM.items() if k != "type"})
    for x, y in _batches():
        loss = cross_entropy(classifier(f(x)), y, eps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1], ids=["plain", "label_smoothing"])
def test_supervised_steps_match_plain_loop(label_smoothing: float) -> None:
    module = _build(label_smoothing)
    f, classifier = copy.deepcopy(module.backbone), copy.deepcopy(module.classifier)
    initial = copy.deepcopy(f.state_dict())
    supervised_loop(f, classifier, label_smoothing)

    make_trainer(max_epochs=1).fit(module, DataLoader(LabelledImages(), batch_size=BATCH))

    assert_same_weights(module.backbone, f, "backbone", **TOL)
    assert_same_weights(module.classifier, classifier, "classifier", **TOL)
    moved = [k for k, v in initial.items() if not torch.equal(v, f.state_dict()[k])]
    assert moved  # the steps changed the weights: the comparison is not of initial values
