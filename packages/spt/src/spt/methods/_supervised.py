"""Supervised classification as a ready module: a linear head and cross-entropy."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.forward import supervised_forward
from spt.methods._simclr import check_embed_dim


def supervised(
    backbone: nn.Module,
    embed_dim: int,
    *,
    num_classes: int,
    label_smoothing: float = 0.0,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """Supervised training: ``classifier(backbone(image))`` with cross-entropy on ``label``.

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)``.
        embed_dim: Width of the backbone's output.
        num_classes: Number of classes of the linear classifier.
        label_smoothing: Label smoothing of the cross-entropy (0).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.supervised, backbone, classifier, supervised_loss)``.

    Examples:
        >>> import spt
        >>> encoder = spt.backbone.SmallCNN(1, 8, embed_dim=32)
        >>> spt.methods.supervised(encoder, 32, num_classes=10).classifier
        Linear(in_features=32, out_features=10, bias=True)
    """
    check_embed_dim("supervised", backbone, embed_dim)
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"spt.methods.supervised: num_classes={num_classes!r} must be >= 2")
    return spt_module.Module(
        forward=supervised_forward,
        backbone=backbone,
        classifier=nn.Linear(embed_dim, num_classes),
        supervised_loss=nn.CrossEntropyLoss(label_smoothing=label_smoothing),
        optim=optim,
        **module_kwargs,
    )
