"""NNCLR as a ready module: projector, predictor, support set and loss."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.mlp import MLP
from spt.forward import nnclr_forward
from spt.methods._simclr import check_embed_dim
from spt_losses import MemoryBank, NNCLRLoss

__all__ = ["nnclr"]


def nnclr(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 2048,
    proj_dim: int = 256,
    pred_hidden_dim: int = 4096,
    support_size: int = 98304,
    temperature: float = 0.1,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """NNCLR: the nearest neighbour of a view's projection in a support set is its positive.

    As in "With a Little Help from My Friends" (Dwibedi et al. 2021): a 3-layer projector
    ``embed_dim -> 2048 -> BN -> ReLU -> 2048 -> BN -> ReLU -> 256 -> BN``, a 2-layer
    predictor ``256 -> 4096 -> BN -> ReLU -> 256``, a support set (first in, first out) of
    the last 98,304 projections, gathered from every rank, and InfoNCE at temperature 0.1,
    symmetric over the two views.

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)``.
        embed_dim: Width of the backbone's output.
        hidden_dim: Hidden width of the projector (2048).
        proj_dim: Output width of the projector and the predictor (256).
        pred_hidden_dim: Hidden width of the predictor (4096).
        support_size: Number of projections in the support set (98,304).
        temperature: InfoNCE temperature (0.1).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.nnclr, backbone, projector, predictor, support_set,
        nnclr_loss)``.

    Examples:
        >>> import spt
        >>> module = spt.methods.nnclr(spt.backbone.SmallCNN(1, 8, embed_dim=32), 32,
        ...                            support_size=512)
        >>> tuple(module.support_set.bank.shape), module.nnclr_loss.temperature
        ((512, 256), 0.1)
    """
    check_embed_dim("nnclr", backbone, embed_dim)
    return spt_module.Module(
        forward=nnclr_forward,
        backbone=backbone,
        projector=MLP(embed_dim, [hidden_dim, hidden_dim], proj_dim, last_norm=True),
        predictor=MLP(proj_dim, [pred_hidden_dim], proj_dim),
        support_set=MemoryBank(support_size, proj_dim),
        nnclr_loss=NNCLRLoss(temperature),
        optim=optim,
        **module_kwargs,
    )
