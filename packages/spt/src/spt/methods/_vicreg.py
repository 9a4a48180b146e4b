"""VICReg (Bardes, Ponce and LeCun 2022) as a ready module."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.mlp import MLP
from spt.forward import vicreg_forward
from spt.methods._simclr import check_embed_dim
from spt_losses import VICRegLoss


def vicreg(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 8192,
    proj_dim: int = 8192,
    sim_coeff: float = 25.0,
    std_coeff: float = 25.0,
    cov_coeff: float = 1.0,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """VICReg: invariance, variance and covariance terms on the expander's outputs.

    The expander is the paper's ``embed_dim -> 8192 -> 8192 -> 8192`` MLP (batch norm and
    ReLU after the two hidden layers); the loss weights are the paper's 25 / 25 / 1.

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)``.
        embed_dim: Width of the backbone's output.
        hidden_dim: Width of the two hidden layers (8192).
        proj_dim: Output width (8192).
        sim_coeff: Weight of the invariance term (25).
        std_coeff: Weight of the variance term (25).
        cov_coeff: Weight of the covariance term (1).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.vicreg, backbone, projector, vicreg_loss)``.

    Examples:
        >>> import spt
        >>> encoder = spt.backbone.SmallCNN(1, 8, embed_dim=32)
        >>> module = spt.methods.vicreg(encoder, 32, hidden_dim=64, proj_dim=64)
        >>> module.vicreg_loss.sim_coeff, module.projector[-1].out_features
        (25.0, 64)
    """
    check_embed_dim("vicreg", backbone, embed_dim)
    return spt_module.Module(
        forward=vicreg_forward,
        backbone=backbone,
        projector=MLP(embed_dim, [hidden_dim, hidden_dim], proj_dim),
        vicreg_loss=VICRegLoss(sim_coeff=sim_coeff, std_coeff=std_coeff, cov_coeff=cov_coeff),
        optim=optim,
        **module_kwargs,
    )
