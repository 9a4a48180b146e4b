"""LeJEPA (Balestriero and LeCun 2025) as a ready module: one encoder, a projector, SIGReg."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

import spt_module
from spt.backbone.mlp import MLP
from spt.forward import lejepa_forward
from spt.methods._simclr import check_embed_dim
from spt_losses import LeJEPALoss


def lejepa(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dims: Sequence[int] = (2048, 2048),
    proj_dim: int = 128,
    lambd: float = 0.05,
    num_slices: int = 256,
    n_global_views: int = 2,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """LeJEPA: each view's projection predicts the mean of the global views', plus SIGReg.

    ``loss = (1 - lambd) * prediction + lambd * SIGReg`` (:class:`spt.losses.LeJEPALoss`):
    the prediction term is the mean squared distance of every view's projection to the mean
    of the global views' projections, SIGReg pushes each view's projections towards an
    isotropic Gaussian along ``num_slices`` random directions. No teacher, no stop-gradient,
    no predictor network; the one trade-off is ``lambd`` (the paper's 0.05). The projector is
    the authors' MLP ``embed_dim -> 2048 -> BN -> ReLU -> 2048 -> BN -> ReLU -> proj_dim``.
    Any backbone works (ViTs, ResNets): multi-crop views of another resolution go through it
    in their own call; the callbacks see the backbone features of the global views.

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)``.
        embed_dim: Width of the backbone's output.
        hidden_dims: Hidden widths of the projector ((2048, 2048)).
        proj_dim: Output width of the projector, where the loss acts (128).
        lambd: Weight of SIGReg, in [0, 1] (0.05).
        num_slices: SIGReg's random directions per step (256).
        n_global_views: Number of leading global views (2).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.lejepa, backbone, projector, lejepa_loss,
        n_global_views)``.

    Raises:
        ValueError: If ``embed_dim`` is not the backbone's, ``n_global_views < 1`` or
            ``lambd`` is outside [0, 1].

    Examples:
        >>> import spt
        >>> module = spt.methods.lejepa(spt.backbone.SmallCNN(1, 8, embed_dim=32), 32)
        >>> module.projector[-1].out_features, module.lejepa_loss.lambd
        (128, 0.05)
    """
    check_embed_dim("lejepa", backbone, embed_dim)
    if n_global_views < 1:
        raise ValueError(
            f"spt.methods.lejepa: n_global_views={n_global_views} must be >= 1 (the views "
            "whose mean every view predicts come first)"
        )
    return spt_module.Module(
        forward=lejepa_forward,
        backbone=backbone,
        projector=MLP(embed_dim, list(hidden_dims), proj_dim),
        lejepa_loss=LeJEPALoss(lambd=lambd, num_slices=num_slices),
        n_global_views=n_global_views,
        optim=optim,
        **module_kwargs,
    )
