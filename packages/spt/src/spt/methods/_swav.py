"""SwAV (Caron et al. 2020) as a ready module: projector, prototypes, Sinkhorn codes, queue."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.mlp import MLP
from spt.forward import swav_forward
from spt.methods._simclr import check_embed_dim
from spt_losses import MemoryBank, Prototypes, SwAVLoss


def swav(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 2048,
    proj_dim: int = 128,
    num_prototypes: int = 3000,
    temperature: float = 0.1,
    epsilon: float = 0.05,
    sinkhorn_iterations: int = 3,
    freeze_iterations: int = 313,
    queue_length: int = 0,
    epoch_queue_starts: int = 15,
    n_global_views: int = 2,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """SwAV: the Sinkhorn codes of each global crop are predicted from every other crop.

    Projector ``embed_dim -> 2048 -> BN -> ReLU -> 128`` (L2-normalised output) and 3000
    prototypes, normalised after every optimizer step and frozen for the first 313 steps;
    codes by Sinkhorn-Knopp (epsilon 0.05, 3 iterations, sums all-reduced under DDP);
    predictions at temperature 0.1; 2 global crops first, then any number of local crops.
    With ``queue_length > 0`` a queue of the global crops' projections (a
    :class:`spt.losses.MemoryBank`, gathered over ranks; its length must be a multiple of
    the global batch) joins the codes' normalisation from epoch ``epoch_queue_starts``,
    once full (the paper uses 3840 and epoch 15 for batches of 256).

    Args:
        backbone: Images ``(B, C, H, W)`` of every crop size -> features ``(B, embed_dim)``.
        embed_dim: Width of the backbone's output.
        hidden_dim: Hidden width of the projector (2048).
        proj_dim: Output width of the projector, the prototypes' dimension (128).
        num_prototypes: Number of prototypes K (3000).
        temperature: Temperature of the predictions (0.1).
        epsilon: Sinkhorn regularisation (0.05).
        sinkhorn_iterations: Sinkhorn iterations (3).
        freeze_iterations: Optimizer steps during which the prototypes do not move (313).
        queue_length: Length of the queue over all ranks; 0 for none (the paper's default).
        epoch_queue_starts: Epoch from which the queue is filled and used (15).
        n_global_views: How many of the first views are global crops, which give codes (2).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.swav, backbone, projector, prototypes, swav_loss,
        [queue])``.

    Examples:
        >>> import spt
        >>> module = spt.methods.swav(spt.backbone.SmallCNN(1, 8, embed_dim=32), 32)
        >>> module.prototypes.weight.shape, module.prototypes.freeze_iterations
        (torch.Size([3000, 128]), 313)
    """
    check_embed_dim("swav", backbone, embed_dim)
    if queue_length < 0:
        raise ValueError(
            f"spt.methods.swav: queue_length={queue_length}; pass 0 for no queue or a "
            "multiple of the global batch"
        )
    extra: dict[str, Any] = {}
    if queue_length > 0:
        extra["queue"] = MemoryBank(queue_length, (n_global_views, proj_dim))
    return spt_module.Module(
        forward=swav_forward,
        backbone=backbone,
        projector=MLP(embed_dim, [hidden_dim], proj_dim),
        prototypes=Prototypes(proj_dim, num_prototypes, freeze_iterations),
        swav_loss=SwAVLoss(temperature, epsilon, sinkhorn_iterations),
        n_global_views=n_global_views,
        epoch_queue_starts=epoch_queue_starts,
        optim=optim,
        **extra,
        **module_kwargs,
    )
