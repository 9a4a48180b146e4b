"""MoCo v2 and MoCo v3 as ready modules: momentum encoders, heads, queue and losses."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.mlp import MLP
from spt.forward import moco_v2_forward, moco_v3_forward
from spt.methods._byol import with_teacher
from spt.methods._simclr import check_embed_dim
from spt_losses import MemoryBank, MoCoV2Loss, MoCoV3Loss

__all__ = ["moco_v2", "moco_v3"]


def moco_v2(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 2048,
    proj_dim: int = 128,
    queue_size: int = 65536,
    temperature: float = 0.2,
    momentum: float = 0.999,
    symmetric: bool = False,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """MoCo v2: a query is contrasted with its momentum key and a queue of past keys.

    As in "Improved Baselines with Momentum Contrastive Learning" (Chen et al. 2020): the
    projector is ``embed_dim -> 2048 -> ReLU -> 128`` (no batch norm); the backbone and the
    projector are :class:`spt.ema.TeacherStudent` pairs whose teachers (the momentum
    encoder) move with a constant ``momentum`` after each optimizer step; the queue holds
    ``queue_size`` L2-normalised keys gathered from every rank, starts full of random unit
    vectors (as the authors' code does) and must be a multiple of the global batch (checked
    at the first step); InfoNCE at temperature 0.2. The paper's loss is asymmetric
    (``symmetric=False``); ``symmetric=True`` averages both directions and enqueues the keys
    of both views (so the queue must then be a multiple of twice the global batch).

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)`` (or a
            ``TeacherStudent`` of it, kept as given).
        embed_dim: Width of the backbone's output.
        hidden_dim: Hidden width of the projector (2048).
        proj_dim: Output width of the projector, the width of the keys (128).
        queue_size: Number of keys in the queue (65,536).
        temperature: InfoNCE temperature (0.2).
        momentum: Momentum of the key encoder, constant over the run (0.999).
        symmetric: Average the loss over both directions (False, as in the paper).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.moco_v2, backbone, projector, queue, moco_v2_loss,
        symmetric)``.

    Examples:
        >>> import spt
        >>> module = spt.methods.moco_v2(spt.backbone.SmallCNN(1, 8, embed_dim=32), 32,
        ...                              queue_size=256)
        >>> tuple(module.queue.bank.shape), module.backbone.base_momentum
        ((256, 128), 0.999)
    """
    check_embed_dim("moco_v2", backbone, embed_dim)
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise ValueError(
            f"spt.methods.moco_v2: queue_size={queue_size!r}; pass a positive int, a multiple "
            "of the global batch (the paper: 65536)"
        )
    projector = MLP(embed_dim, [hidden_dim], proj_dim, norm=None)
    return spt_module.Module(
        forward=moco_v2_forward,
        backbone=with_teacher(backbone, momentum, momentum),
        projector=with_teacher(projector, momentum, momentum),
        queue=MemoryBank(queue_size, proj_dim, init="random", require_batch_multiple=True),
        moco_v2_loss=MoCoV2Loss(temperature),
        symmetric=symmetric,
        optim=optim,
        **module_kwargs,
    )


def moco_v3(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 4096,
    proj_dim: int = 256,
    pred_hidden_dim: int = 4096,
    temperature: float = 0.2,
    base_momentum: float = 0.99,
    final_momentum: float = 1.0,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """MoCo v3: symmetric InfoNCE between predictions and momentum keys, no queue.

    As in "An Empirical Study of Training Self-Supervised Vision Transformers" (Chen, Xie,
    He 2021): a 3-layer projector ``embed_dim -> 4096 -> BN -> ReLU -> 4096 -> BN -> ReLU
    -> 256 -> BN`` (the last batch norm without affine), a 2-layer predictor
    ``256 -> 4096 -> BN -> ReLU -> 256``, a momentum encoder (the teachers of the backbone
    and the projector) whose momentum follows a cosine schedule from 0.99 to 1 over the run,
    the negatives of each query are the keys of the whole global batch, and the loss of each
    direction is scaled by ``2 * temperature``. The temperature defaults to the paper's ViT
    setting, 0.2; its ResNet-50 recipe uses 1.0.

    Args:
        backbone: Images ``(B, C, H, W)`` -> features ``(B, embed_dim)`` (or a
            ``TeacherStudent`` of it, kept as given).
        embed_dim: Width of the backbone's output.
        hidden_dim: Hidden width of the projector (4096).
        proj_dim: Output width of the projector and the predictor (256).
        pred_hidden_dim: Hidden width of the predictor (4096).
        temperature: InfoNCE temperature (0.2).
        base_momentum: Momentum of the key encoder at the first step (0.99).
        final_momentum: Momentum at the end of the run (1.0).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.moco_v3, backbone, projector, predictor,
        moco_v3_loss)``.

    Examples:
        >>> import spt
        >>> module = spt.methods.moco_v3(spt.backbone.SmallCNN(1, 8, embed_dim=32), 32)
        >>> module.predictor[-1].out_features, module.backbone.final_momentum
        (256, 1.0)
    """
    check_embed_dim("moco_v3", backbone, embed_dim)
    projector = MLP(embed_dim, [hidden_dim, hidden_dim], proj_dim, last_norm=True)
    return spt_module.Module(
        forward=moco_v3_forward,
        backbone=with_teacher(backbone, base_momentum, final_momentum),
        projector=with_teacher(projector, base_momentum, final_momentum),
        predictor=MLP(proj_dim, [pred_hidden_dim], proj_dim),
        moco_v3_loss=MoCoV3Loss(temperature),
        optim=optim,
        **module_kwargs,
    )
