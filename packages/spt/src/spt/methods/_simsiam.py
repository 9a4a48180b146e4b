"""SimSiam (Chen and He 2021) as a ready module: projector, bottleneck predictor, no teacher."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.mlp import MLP
from spt.forward import simsiam_forward
from spt.methods._simclr import check_embed_dim
from spt_losses import NegativeCosineSimilarity


def simsiam(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 2048,
    proj_dim: int = 2048,
    pred_hidden_dim: int = 512,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """SimSiam: symmetric negative cosine between predictions and stop-gradient projections.

    The projector is the paper's 3-layer MLP ``embed_dim -> 2048 -> 2048 -> 2048`` with
    batch norm after every layer, the output one included (without affine parameters, as
    in the paper's code), ReLU after the hidden ones; the predictor is the bottleneck
    ``2048 -> 512 -> BN -> ReLU -> 2048``. The paper trains with SGD (lr 0.05 x batch / 256,
    momentum 0.9, weight decay 1e-4, cosine decay; a constant lr for the predictor), e.g.
    ``optim={"optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}}``.

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)``.
        embed_dim: Width of the backbone's output.
        hidden_dim: Width of the projector's two hidden layers (2048).
        proj_dim: Output width of the projector and the predictor (2048).
        pred_hidden_dim: Bottleneck width of the predictor (512).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.simsiam, backbone, projector, predictor, simsiam_loss)``.

    Examples:
        >>> import spt
        >>> module = spt.methods.simsiam(spt.backbone.SmallCNN(1, 8, embed_dim=32), 32)
        >>> module.predictor[0].out_features, type(module.projector[-1]).__name__
        (512, 'BatchNorm1d')
    """
    check_embed_dim("simsiam", backbone, embed_dim)
    return spt_module.Module(
        forward=simsiam_forward,
        backbone=backbone,
        projector=MLP(embed_dim, [hidden_dim, hidden_dim], proj_dim, last_norm=True),
        predictor=MLP(proj_dim, [pred_hidden_dim], proj_dim),
        simsiam_loss=NegativeCosineSimilarity(),
        optim=optim,
        **module_kwargs,
    )
