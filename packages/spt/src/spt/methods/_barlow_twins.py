"""Barlow Twins (Zbontar et al. 2021) as a ready module."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.mlp import MLP
from spt.forward import barlow_twins_forward
from spt.methods._simclr import check_embed_dim
from spt_losses import BarlowTwinsLoss


def barlow_twins(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 8192,
    proj_dim: int = 8192,
    lambd: float = 5e-3,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """Barlow Twins: the cross-correlation of two views' projections pushed to the identity.

    The projector is the paper's ``embed_dim -> 8192 -> 8192 -> 8192`` MLP (batch norm and
    ReLU after the hidden layers); the loss standardises each output dimension over the
    batch itself (the paper's final batch norm without affine parameters).

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)``.
        embed_dim: Width of the backbone's output.
        hidden_dim: Width of the two hidden layers (8192).
        proj_dim: Output width (8192).
        lambd: Weight of the off-diagonal (redundancy) term (5e-3).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.barlow_twins, backbone, projector, barlow_twins_loss)``.

    Examples:
        >>> import spt
        >>> encoder = spt.backbone.SmallCNN(1, 8, embed_dim=32)
        >>> module = spt.methods.barlow_twins(encoder, 32, hidden_dim=64, proj_dim=64)
        >>> module.barlow_twins_loss.lambd
        0.005
    """
    check_embed_dim("barlow_twins", backbone, embed_dim)
    return spt_module.Module(
        forward=barlow_twins_forward,
        backbone=backbone,
        projector=MLP(embed_dim, [hidden_dim, hidden_dim], proj_dim),
        barlow_twins_loss=BarlowTwinsLoss(lambd=lambd),
        optim=optim,
        **module_kwargs,
    )
