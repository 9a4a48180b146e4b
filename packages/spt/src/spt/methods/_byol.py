"""BYOL (Grill et al. 2020) as a ready module: EMA teachers, projector and predictor."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.mlp import MLP
from spt.ema import TeacherStudent
from spt.forward import byol_forward
from spt.methods._simclr import check_embed_dim
from spt_losses import NegativeCosineSimilarity


def with_teacher(network: nn.Module, base_momentum: float, final_momentum: float) -> TeacherStudent:
    """``network`` paired with an EMA teacher (a pair passed in is kept as it is)."""
    if isinstance(network, TeacherStudent):
        return network
    return TeacherStudent(network, base_momentum=base_momentum, final_momentum=final_momentum)


def byol(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 4096,
    proj_dim: int = 256,
    pred_hidden_dim: int = 4096,
    base_momentum: float = 0.99,
    final_momentum: float = 1.0,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """BYOL: the student's prediction of one view regresses the teacher's projection of another.

    Projector ``embed_dim -> 4096 -> BN -> ReLU -> 256`` and predictor
    ``256 -> 4096 -> BN -> ReLU -> 256`` as in the paper; the backbone and the projector are
    :class:`spt.ema.TeacherStudent` pairs whose teachers move after each optimizer step with
    the cosine momentum schedule from ``base_momentum`` to ``final_momentum`` over the run
    (the paper's ImageNet run starts at 0.996 with 1000 epochs; shorter runs use 0.99).

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)`` (or a
            ``TeacherStudent`` of it, kept as given).
        embed_dim: Width of the backbone's output.
        hidden_dim: Hidden width of the projector (4096).
        proj_dim: Output width of the projector and the predictor (256).
        pred_hidden_dim: Hidden width of the predictor (4096).
        base_momentum: Teacher momentum at the first step (0.99).
        final_momentum: Teacher momentum at the end of the run (1.0).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.byol, backbone, projector, predictor, byol_loss)``.

    Examples:
        >>> import spt
        >>> module = spt.methods.byol(spt.backbone.SmallCNN(1, 8, embed_dim=32), 32)
        >>> module.predictor[0].out_features, module.backbone.base_momentum
        (4096, 0.99)
    """
    check_embed_dim("byol", backbone, embed_dim)
    projector = MLP(embed_dim, [hidden_dim], proj_dim)
    return spt_module.Module(
        forward=byol_forward,
        backbone=with_teacher(backbone, base_momentum, final_momentum),
        projector=with_teacher(projector, base_momentum, final_momentum),
        predictor=MLP(proj_dim, [pred_hidden_dim], proj_dim),
        byol_loss=NegativeCosineSimilarity(),
        optim=optim,
        **module_kwargs,
    )
