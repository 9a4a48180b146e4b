"""SupCon (Khosla et al. 2020) as a ready module: a projector and the supervised loss."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.mlp import MLP
from spt.forward import supcon_forward
from spt.methods._simclr import check_embed_dim
from spt_losses import SupConLoss


def supcon(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 2048,
    proj_dim: int = 128,
    temperature: float = 0.1,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """SupCon: contrastive learning in which every view of a sample of the same class is positive.

    The projector is the paper's MLP with one hidden layer, ``embed_dim -> 2048 -> BN ->
    ReLU -> 128``; the temperature is the paper's 0.1. Training batches need ``label``.

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)``.
        embed_dim: Width of the backbone's output.
        hidden_dim: Hidden width of the projector (2048).
        proj_dim: Output width of the projector (128).
        temperature: Temperature of the loss (0.1).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.supcon, backbone, projector, supcon_loss)``.

    Examples:
        >>> import spt
        >>> module = spt.methods.supcon(spt.backbone.SmallCNN(1, 8, embed_dim=32), 32)
        >>> module.projector[-1].out_features, module.supcon_loss.temperature
        (128, 0.1)
    """
    check_embed_dim("supcon", backbone, embed_dim)
    return spt_module.Module(
        forward=supcon_forward,
        backbone=backbone,
        projector=MLP(embed_dim, [hidden_dim], proj_dim),
        supcon_loss=SupConLoss(temperature=temperature),
        optim=optim,
        **module_kwargs,
    )
