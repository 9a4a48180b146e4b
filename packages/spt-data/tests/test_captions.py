"""CaptionFromLabel: captions of labels from templates, tokenized, for image-text pairs."""

from __future__ import annotations

import doctest
import importlib
from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from spt_data import DIGIT_NAMES, DIGIT_TEMPLATES, CaptionFromLabel, digits, transforms


def _words(text: str) -> list[int]:
    """A stand-in tokenizer: one id per character."""
    return [ord(c) for c in text]


def test_caption_names_the_digit_of_the_label() -> None:
    captions = CaptionFromLabel(str, templates=["a photo of the digit {name}"])
    for label, name in enumerate(DIGIT_NAMES):
        assert captions({"label": label})["text"] == f"a photo of the digit {name}"
    assert captions({"label": 7})["text"] == "a photo of the digit seven"


def test_text_is_what_the_tokenizer_makes_of_the_caption() -> None:
    captions = CaptionFromLabel(_words, caption_key="caption")
    out = captions({"label": 3, "image": "pixels"})
    assert out["text"] == _words(out["caption"])
    assert "three" in out["caption"]
    assert out["image"] == "pixels"  # other keys pass through


def test_sample_is_not_modified() -> None:
    sample = {"label": 1}
    CaptionFromLabel(str)(sample)
    assert sample == {"label": 1}


def test_templates_are_drawn_uniformly_and_reproducibly() -> None:
    captions = CaptionFromLabel(str)
    torch.manual_seed(0)
    drawn = [captions({"label": 2})["text"] for _ in range(1000)]
    counts = Counter(drawn)
    assert set(counts) == {t.format(name="two") for t in DIGIT_TEMPLATES}
    assert min(counts.values()) > 150  # 200 expected for each of the 5 templates
    torch.manual_seed(0)
    assert [captions({"label": 2})["text"] for _ in range(1000)] == drawn


def test_digits_with_captions_collate_to_token_batches() -> None:
    def tokenize(text: str) -> torch.Tensor:
        ids = torch.zeros(40, dtype=torch.long)
        ids[: len(text)] = torch.tensor([ord(c) for c in text])
        return ids

    transform = transforms.Compose(
        transforms.ToImage(mean=[0.3], std=[0.3]), CaptionFromLabel(tokenize)
    )
    batch = next(iter(DataLoader(digits("test", size=8, rgb=False, transform=transform), 6)))
    assert batch["text"].shape == (6, 40)
    assert batch["image"].shape == (6, 1, 8, 8)
    for ids, label in zip(batch["text"], batch["label"], strict=True):
        caption = "".join(chr(int(i)) for i in ids if i > 0)
        assert caption in {t.format(name=DIGIT_NAMES[int(label)]) for t in DIGIT_TEMPLATES}


def test_other_class_names_and_keys() -> None:
    captions = CaptionFromLabel(
        str, class_names=["cat", "dog"], templates=["a {name}"], label_key="y", key="caption"
    )
    assert captions({"y": 1})["caption"] == "a dog"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tokenizer": "bytes"}, TypeError, "tokenizer must be callable"),
        ({"templates": ["a photo of {}"]}, ValueError, r"template 'a photo of \{\}' has no"),
        ({"templates": "a {name}"}, ValueError, "non-empty list of strings"),
        ({"class_names": []}, ValueError, "class_names must be a non-empty list"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, object], error: type, match: str) -> None:
    arguments: dict[str, object] = {"tokenizer": str, **kwargs}
    with pytest.raises(error, match=match):
        CaptionFromLabel(**arguments)  # type: ignore[arg-type]


def test_a_label_without_a_name_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"label 10 has no name; class_names holds 10 names"):
        CaptionFromLabel(str)({"label": 10})


def test_a_sample_without_a_label_is_an_error() -> None:
    with pytest.raises(KeyError, match=r"label_key='label' is not in the sample.*'image'"):
        CaptionFromLabel(str)({"image": 0})


def test_docstring_examples_run() -> None:
    result = doctest.testmod(importlib.import_module("spt_data.captions"), verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
