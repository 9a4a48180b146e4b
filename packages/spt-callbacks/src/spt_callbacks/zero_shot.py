"""Zero-shot classification of validation images by the embeddings of class prompts (CLIP)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from typing_extensions import override

from spt_callbacks._metrics import StageMetrics, TopOneAccuracy, log_metrics, metric_dict
from spt_callbacks._outputs import check_rows, read_key
from spt_callbacks._state import NamedCallback

__all__ = ["ZeroShotClassifier"]


class ZeroShotClassifier(NamedCallback):
    """Top-1 of validation images classified by cosine similarity to embedded class prompts.

    CLIP's zero-shot transfer (Radford et al. 2021, section 3.1): at the start of every
    validation, each class name is put into every template ("a photo of the digit
    {name}"), the prompts are tokenized with ``tokenizer`` and embedded by the module's text
    encoder, and the L2-normalised embeddings of a class are averaged over the templates and
    normalised again (the paper's prompt ensembling). Each validation image embedding
    ``input`` (read from the step outputs, else the batch) is then scored by its cosine
    similarity to every class, and the metrics are updated with these ``(B, C)`` scores and
    the labels ``target``; they are logged as ``{name}/val/{metric}`` at the end of
    validation. Nothing is trained and nothing is kept in the checkpoint: the class
    embeddings are those of the current text encoder.

    The text encoder is the chain of the module's components named in ``text_encoder``,
    applied in order to the token ids; it must map them to the space of ``input`` (for
    :func:`spt.methods.clip`, ``text_backbone`` then ``text_projector``, and ``input`` the
    ``image_embedding`` of ``spt.forward.clip``). The callback works with any
    LightningModule that has those components.

    Args:
        name: Name of the callback, prefix of its logged metrics.
        tokenizer: Callable from a list of N prompts to ``(N, L)`` token ids (e.g.
            ``spt.backbone.ByteTokenizer(context_length=32)``).
        class_names: The name of each label, in label order.
        templates: Prompt templates, each with ``{name}``.
        input: Key of the image embeddings ``(B, D)`` in the validation step outputs.
        target: Key of the integer labels ``(B,)``.
        text_encoder: Name of the module's text encoder component, or the names of the
            components to apply one after the other.
        metrics: A ``torchmetrics.Metric`` or a dict of them fed ``(scores (B, C), labels)``;
            None logs top-1 accuracy as ``{name}/val/top1``.

    Raises:
        TypeError: ``tokenizer`` is not callable.
        ValueError: no class names, a template without ``{name}``, or no component names;
            (during validation) a missing component, or embeddings of another width.

    Examples:
        >>> zero_shot = ZeroShotClassifier(
        ...     name="zero_shot",
        ...     tokenizer=lambda texts: torch.zeros(len(texts), 8, dtype=torch.long),
        ...     class_names=["zero", "one"],
        ... )
        >>> zero_shot.prompts()
        ['a photo of the digit zero', 'a photo of the digit one']
    """

    def __init__(
        self,
        name: str,
        tokenizer: Callable[[list[str]], Any],
        class_names: Sequence[str],
        templates: Sequence[str] = ("a photo of the digit {name}",),
        input: str = "image_embedding",
        target: str = "label",
        text_encoder: str | Sequence[str] = ("text_backbone", "text_projector"),
        metrics: Any = None,
    ) -> None:
        super().__init__(name)
        if not callable(tokenizer):
            raise TypeError(
                f"{self._owner}: tokenizer must be callable (list of prompts -> token ids), "
                f"got {type(tokenizer).__name__}"
            )
        if isinstance(class_names, str) or not class_names:
            raise ValueError(
                f"{self._owner}: class_names must be a non-empty list of names, got {class_names!r}"
            )
        if isinstance(templates, str) or not templates:
            raise ValueError(
                f"{self._owner}: templates must be a non-empty list of strings, got {templates!r}"
            )
        for template in templates:
            if not isinstance(template, str) or "{name}" not in template:
                raise ValueError(
                    f"{self._owner}: template {template!r} has no '{{name}}' for the class "
                    "name; write e.g. 'a photo of the digit {name}'"
                )
        encoder = (text_encoder,) if isinstance(text_encoder, str) else tuple(text_encoder)
        if not encoder or not all(isinstance(n, str) and n for n in encoder):
            raise ValueError(
                f"{self._owner}: text_encoder={text_encoder!r} must name the module's text "
                "encoder component(s), e.g. ('text_backbone', 'text_projector')"
            )
        self.tokenizer = tokenizer
        self.class_names = [str(c) for c in class_names]
        self.templates = list(templates)
        self.input = input
        self.target = target
        self.text_encoder = encoder
        self.metrics = StageMetrics(metric_dict(self._owner, metrics) or {"top1": TopOneAccuracy()})
        self.class_embeddings: Tensor | None = None

    def prompts(self) -> list[str]:
        """Every prompt, class-major: the templates of class 0, then those of class 1, ..."""
        return [t.format(name=c) for c in self.class_names for t in self.templates]

    def _components(self, pl_module: pl.LightningModule) -> list[Callable[[Tensor], Tensor]]:
        found = []
        for component in self.text_encoder:
            value = getattr(pl_module, component, None)
            if not callable(value):
                children = [n for n, _ in pl_module.named_children()]
                raise ValueError(
                    f"{self._owner}: the module has no text encoder component {component!r} "
                    f"(its components: {children}); set text_encoder= to the names of the "
                    "components that map token ids to the image embedding space"
                )
            found.append(value)
        return found

    @torch.no_grad()
    def embed_classes(self, pl_module: pl.LightningModule) -> Tensor:
        """The unit ``(C, E)`` embedding of each class, averaged over the templates."""
        components = self._components(pl_module)
        tokens = torch.as_tensor(self.tokenizer(self.prompts()), device=pl_module.device)
        x = tokens
        for component in components:
            x = component(x)
        if x.ndim != 2 or x.shape[0] != tokens.shape[0]:
            raise ValueError(
                f"{self._owner}: the text encoder {list(self.text_encoder)} made "
                f"{tuple(x.shape)} of {tokens.shape[0]} prompts; it must return (prompts, E)"
            )
        per_prompt = F.normalize(x.float(), dim=-1)  # (C*T, E)
        per_class = per_prompt.reshape(len(self.class_names), len(self.templates), -1).mean(1)
        return F.normalize(per_class, dim=-1)  # (C, E)

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.metrics.to(trainer.strategy.root_device)

    @override
    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.class_embeddings = self.embed_classes(pl_module)

    @override
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        classes = self.class_embeddings
        if classes is None:
            return
        x = read_key(outputs, batch, self.input, owner=self._owner, argument="input")
        y = read_key(outputs, batch, self.target, owner=self._owner, argument="target")
        check_rows(self._owner, self.input, x, self.target, y)
        if x.ndim != 2 or x.shape[1] != classes.shape[1]:
            raise ValueError(
                f"{self._owner}: input {self.input!r} has shape {tuple(x.shape)} but the class "
                f"prompts embed to {classes.shape[1]} dimensions; input must be the image "
                "embedding in the text encoder's space (B, E)"
            )
        scores = F.normalize(x.detach().float(), dim=1) @ classes.T  # (B, E) @ (E, C)
        self.metrics.update("val", scores, y.to(scores.device))

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log_metrics(pl_module, f"{self.name}/val", self.metrics.compute_and_reset("val"))
        self.class_embeddings = None
