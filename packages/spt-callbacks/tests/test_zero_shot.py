"""ZeroShotClassifier: class prompts through the module's text encoder, top-1 on validation."""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import lightning as pl
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassAccuracy

from spt_callbacks import ZeroShotClassifier
from spt_module.testing import make_trainer

CLASSES = ["zero", "one", "two", "three"]
TEMPLATES = ["a photo of the digit {name}", "a drawing of a {name}"]
DIM = 6


def _vocabulary() -> dict[str, int]:
    words = {w for t in TEMPLATES for c in CLASSES for w in t.format(name=c).split()}
    return {w: i + 1 for i, w in enumerate(sorted(words))}  # 0 is padding


VOCAB = _vocabulary()


def tokenize(prompts: list[str]) -> Tensor:
    """Word ids, right-padded with 0 to 8."""
    out = torch.zeros(len(prompts), 8, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids = [VOCAB[w] for w in prompt.split()]
        out[row, : len(ids)] = torch.tensor(ids)
    return out


class BagOfWords(nn.Module):
    """Sum of the embeddings of the words: (N, L) -> (N, DIM)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB) + 1, DIM, padding_idx=0)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.embed(tokens).sum(dim=1)


class TwoTowers(pl.LightningModule):
    """A text encoder (bag of words, then a linear map) trained by a stand-in loss; its
    validation step returns the batch's image embeddings."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.text_backbone = BagOfWords()
        self.text_projector = nn.Linear(DIM, DIM)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        # any loss that moves the text encoder, so the class embeddings change between epochs
        return self.text_projector(self.text_backbone(tokenize(["a photo of the digit two"]))).sum()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return {"image_embedding": batch["x"], "label": batch["label"]}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


@torch.no_grad()
def reference_class_embeddings(module: TwoTowers) -> Tensor:
    """Each class: the mean of its prompts' unit embeddings, normalised again (C, DIM)."""
    rows = []
    for name in CLASSES:
        prompts = [t.format(name=name) for t in TEMPLATES]
        per_prompt = [
            F.normalize(module.text_projector(module.text_backbone(tokenize([p])))[0], dim=0)
            for p in prompts
        ]
        rows.append(F.normalize(torch.stack(per_prompt).mean(dim=0), dim=0))
    return torch.stack(rows)


def reference_top1(x: Tensor, y: Tensor, classes: Tensor) -> float:
    correct = 0
    for row, label in zip(x, y, strict=True):
        similarity = [float(F.cosine_similarity(row, c, dim=0)) for c in classes]
        correct += int(max(range(len(classes)), key=lambda k: similarity[k]) == int(label))
    return correct / len(y)


def _images(classes: Tensor, n: int = 48, noise: float = 0.6) -> tuple[Tensor, Tensor]:
    """Image embeddings near the embedding of their class."""
    gen = torch.Generator().manual_seed(1)
    y = torch.randint(0, len(CLASSES), (n,), generator=gen)
    return classes[y] + noise * torch.randn(n, DIM, generator=gen), y


def _loaders(x: Tensor, y: Tensor) -> tuple[DataLoader[Any], DataLoader[Any]]:
    samples = [{"x": a, "label": b} for a, b in zip(x, y, strict=True)]
    return DataLoader(samples[:4], batch_size=4), DataLoader(samples, batch_size=10)


def _callback(**kwargs: Any) -> ZeroShotClassifier:
    return ZeroShotClassifier(
        name="zero_shot", tokenizer=tokenize, class_names=CLASSES, templates=TEMPLATES, **kwargs
    )


def test_logs_the_top1_of_the_class_prompts_of_the_current_text_encoder() -> None:
    module = TwoTowers()
    x, y = _images(reference_class_embeddings(module))  # placed by the initial encoder
    zero_shot = _callback()
    trainer = make_trainer(max_epochs=2, callbacks=[zero_shot])
    trainer.fit(module, *_loaders(x, y))
    # the last validation saw the trained encoder
    expected = reference_top1(x, y, reference_class_embeddings(module))
    assert 0.0 < expected < 1.0
    logged = trainer.callback_metrics["zero_shot/val/top1"]
    assert float(logged) == pytest.approx(expected, abs=1e-6)
    initial = reference_top1(x, y, reference_class_embeddings(TwoTowers()))
    assert initial != pytest.approx(expected)  # the encoder moved: the comparison is not idle
    assert zero_shot.class_embeddings is None  # recomputed at every validation


def test_class_embeddings_average_the_unit_embeddings_of_the_templates() -> None:
    module = TwoTowers()
    classes = _callback().embed_classes(module)
    torch.testing.assert_close(classes, reference_class_embeddings(module))
    torch.testing.assert_close(classes.norm(dim=1), torch.ones(len(CLASSES)))


def test_prompts_are_class_major() -> None:
    assert _callback().prompts() == [t.format(name=c) for c in CLASSES for t in TEMPLATES]


def test_one_component_and_any_torchmetrics() -> None:
    class OneTower(TwoTowers):
        def __init__(self) -> None:
            super().__init__()
            self.text_encoder = nn.Sequential(self.text_backbone, self.text_projector)

    module = OneTower()
    x, y = _images(reference_class_embeddings(module), noise=0.3)
    metrics = {"macro": MulticlassAccuracy(len(CLASSES), average="macro")}
    trainer = make_trainer(callbacks=[_callback(text_encoder="text_encoder", metrics=metrics)])
    trainer.validate(module, _loaders(x, y)[1])
    assert "zero_shot/val/macro" in trainer.callback_metrics
    assert "zero_shot/val/top1" not in trainer.callback_metrics


def test_a_missing_component_is_named_with_the_existing_ones() -> None:
    x, y = _images(torch.eye(len(CLASSES), DIM))
    trainer = make_trainer(callbacks=[_callback(text_encoder=("text_tower",))])
    with pytest.raises(
        ValueError, match=r"no text encoder component 'text_tower' .*'text_backbone'"
    ):
        trainer.validate(TwoTowers(), _loaders(x, y)[1])


def test_image_embeddings_of_another_width_are_an_error() -> None:
    x, y = torch.randn(8, DIM + 1), torch.zeros(8, dtype=torch.long)
    trainer = make_trainer(callbacks=[_callback()])
    with pytest.raises(ValueError, match=r"shape \(8, 7\) but the class prompts embed to 6"):
        trainer.validate(TwoTowers(), _loaders(x, y)[1])


def test_nothing_is_kept_in_the_checkpoint() -> None:
    assert _callback().state_dict() == {}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tokenizer": "bytes"}, TypeError, "tokenizer must be callable"),
        ({"class_names": []}, ValueError, "class_names must be a non-empty list"),
        ({"templates": ["a photo of {}"]}, ValueError, r"template 'a photo of \{\}' has no"),
        ({"templates": "a {name}"}, ValueError, "templates must be a non-empty list"),
        ({"text_encoder": ()}, ValueError, r"text_encoder=\(\) must name"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, Any], error: type, match: str) -> None:
    arguments: dict[str, Any] = {
        "name": "zero_shot",
        "tokenizer": tokenize,
        "class_names": CLASSES,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        ZeroShotClassifier(**arguments)


def test_docstring_examples_run() -> None:
    module = importlib.import_module("spt_callbacks.zero_shot")
    result = doctest.testmod(module, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
