"""Captions generated from class labels, for image-text training (CLIP) on labelled data."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

__all__ = ["DIGIT_NAMES", "DIGIT_TEMPLATES", "CaptionFromLabel"]

DIGIT_NAMES: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)
"""The names of the ten digits, by label."""

DIGIT_TEMPLATES: tuple[str, ...] = (
    "a photo of the digit {name}",
    "a picture of the number {name}",
    "a handwritten {name}",
    "an image of the digit {name}",
    "the number {name}, written by hand",
)
"""Caption templates of a digit; ``{name}`` is replaced by the digit's name."""


def check_templates(owner: str, templates: Sequence[str]) -> tuple[str, ...]:
    """The templates as a tuple, after checking each is a string holding ``{name}``."""
    if isinstance(templates, str) or not templates:
        raise ValueError(
            f"{owner}: templates must be a non-empty list of strings, got {templates!r}; "
            "e.g. ['a photo of the digit {name}']"
        )
    for template in templates:
        if not isinstance(template, str) or "{name}" not in template:
            raise ValueError(
                f"{owner}: template {template!r} has no '{{name}}' for the class name; "
                "write e.g. 'a photo of the digit {name}'"
            )
    return tuple(templates)


class CaptionFromLabel:
    """Add a caption of the sample's label, tokenized, to a sample dict.

    Each call draws one of ``templates`` uniformly (with torch's generator, so
    ``torch.manual_seed`` and DataLoader worker seeding make it reproducible), fills in the
    name of ``sample[label_key]`` and stores ``tokenizer(caption)`` under ``key``: on
    scikit-learn's digits, label 7 becomes e.g. "a photo of the digit seven". This turns a
    labelled image dataset into image-text pairs for CLIP (Radford et al. 2021). The input
    dict is not modified.

    Args:
        tokenizer: Callable from one caption to its token ids (e.g.
            ``spt.backbone.ByteTokenizer(context_length=32)``).
        class_names: The name of each label (default: the ten digits).
        templates: Caption templates, each with ``{name}`` (default: :data:`DIGIT_TEMPLATES`).
        label_key: Key of the integer label read.
        key: Key of the token ids written.
        caption_key: Also store the caption string under this key (None: do not).

    Raises:
        TypeError: ``tokenizer`` is not callable.
        ValueError: no class names, or a template without ``{name}``; (on call) a label
            that is not in ``[0, len(class_names))``.
        KeyError: (on call) the sample has no ``label_key``.

    Examples:
        >>> captions = CaptionFromLabel(str.upper, templates=["a photo of the digit {name}"])
        >>> captions({"label": 7})["text"]
        'A PHOTO OF THE DIGIT SEVEN'
    """

    def __init__(
        self,
        tokenizer: Callable[[str], Any],
        class_names: Sequence[str] = DIGIT_NAMES,
        templates: Sequence[str] = DIGIT_TEMPLATES,
        label_key: str = "label",
        key: str = "text",
        caption_key: str | None = None,
    ) -> None:
        if not callable(tokenizer):
            raise TypeError(
                f"CaptionFromLabel: tokenizer must be callable (str -> token ids), got "
                f"{type(tokenizer).__name__}; pass e.g. spt.backbone.ByteTokenizer()"
            )
        if isinstance(class_names, str) or not class_names:
            raise ValueError(
                f"CaptionFromLabel: class_names must be a non-empty list of names, got "
                f"{class_names!r}"
            )
        self.tokenizer = tokenizer
        self.class_names = tuple(str(name) for name in class_names)
        self.templates = check_templates("CaptionFromLabel", templates)
        self.label_key = label_key
        self.key = key
        self.caption_key = caption_key

    def caption(self, label: int, template: int) -> str:
        """The caption of ``label`` with template number ``template``."""
        return self.templates[template].format(name=self.class_names[label])

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        if self.label_key not in sample:
            raise KeyError(
                f"CaptionFromLabel: label_key={self.label_key!r} is not in the sample; keys "
                f"present: {sorted(sample)}"
            )
        label = int(sample[self.label_key])
        if not 0 <= label < len(self.class_names):
            raise ValueError(
                f"CaptionFromLabel: label {label} has no name; class_names holds "
                f"{len(self.class_names)} names (labels 0..{len(self.class_names) - 1})"
            )
        template = int(torch.randint(len(self.templates), ()).item())
        caption = self.caption(label, template)
        out = dict(sample)
        out[self.key] = self.tokenizer(caption)
        if self.caption_key is not None:
            out[self.caption_key] = caption
        return out

    def __repr__(self) -> str:
        return (
            f"CaptionFromLabel({self.tokenizer!r}, {len(self.class_names)} classes, "
            f"{len(self.templates)} templates)"
        )
