"""I-JEPA (Assran et al. 2023) as a ready module: context and target encoders, the predictor."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.backbone.predictor import IJEPAPredictor
from spt.ema import TeacherStudent
from spt.forward import ijepa_forward
from spt.methods._simclr import check_embed_dim
from spt_data.masking import MultiBlockMask
from spt_losses import IJEPALoss


class LinearMomentumTeacherStudent(TeacherStudent):
    """A :class:`spt.ema.TeacherStudent` whose momentum rises linearly, as I-JEPA's.

    ``m_k = base + (final - base) * min(k / total_steps, 1)`` at the ``k``-th update (from 0),
    instead of BYOL's cosine; ``total_steps`` is the run's optimizer steps unless given.

    Examples:
        >>> pair = LinearMomentumTeacherStudent(nn.Linear(2, 2), 0.996, 1.0, total_steps=4)
        >>> pair.momentum
        0.996
    """

    @property
    def momentum(self) -> float:
        """The momentum of the next update, from the linear schedule."""
        total = self.total_steps or 0
        if total <= 0:
            return self.base_momentum
        progress = min(max(int(self.num_updates) / total, 0.0), 1.0)
        return self.base_momentum + (self.final_momentum - self.base_momentum) * progress


def _vit_geometry(backbone: nn.Module) -> tuple[tuple[int, int], int]:
    """``(grid_size, heads)`` of a ViT that can drop masked patches."""
    vit: Any = backbone.student if isinstance(backbone, TeacherStudent) else backbone
    needed = ("forward_tokens", "grid_size", "blocks")
    missing = [name for name in needed if not hasattr(vit, name)]
    if missing or not len(vit.blocks):
        raise TypeError(
            f"spt.methods.ijepa: the backbone ({type(vit).__name__}) has no "
            f"{', '.join(missing) or 'blocks'}; pass a ViT that encodes a subset of its "
            "patches, e.g. spt.backbone.VisionTransformer(img_size=..., patch_size=..., "
            "pos_embed='sincos', class_token=False)"
        )
    grid = (int(vit.grid_size[0]), int(vit.grid_size[1]))
    return grid, int(vit.blocks[0].attn.num_heads)


def ijepa(
    backbone: nn.Module,
    embed_dim: int,
    *,
    predictor_dim: int = 384,
    predictor_depth: int = 12,
    predictor_heads: int | None = None,
    num_targets: int = 4,
    target_scale: tuple[float, float] = (0.15, 0.2),
    target_aspect_ratio: tuple[float, float] = (0.75, 1.5),
    context_scale: tuple[float, float] = (0.85, 1.0),
    min_context: int | None = None,
    distance: str = "smooth_l1",
    base_momentum: float = 0.996,
    final_momentum: float = 1.0,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """I-JEPA: predict the EMA target encoder's features of target blocks from a context block.

    The backbone is the context encoder; its EMA copy, the target encoder, embeds the whole
    image, and the momentum rises linearly from 0.996 to 1 over the run
    (:class:`LinearMomentumTeacherStudent`), as in the authors' code. The predictor
    (:class:`spt.backbone.IJEPAPredictor`) is the paper's narrow ViT: 384 wide, as many heads
    as the encoder, 12 blocks (the paper's ViT-L/H setting; it uses 6 for ViT-B/16). The
    masks are the paper's: 4 targets of scale (0.15, 0.2) and aspect (0.75, 1.5), one context
    of scale (0.85, 1.0) without the targets (``mask_generator``, used for batches whose
    collate function did not add masks; :class:`spt_data.masking.MultiBlockMaskCollator`
    adds them in the loader). The loss is smooth-L1 on layer-normalised targets, averaged over
    blocks (the authors' code; ``distance="l2"`` is the paper's text). Build the ViT as the
    paper's: fixed sin-cos position embeddings and no class token
    (``VisionTransformer(..., pos_embed="sincos", class_token=False)``), so that its output
    (what evaluation reads) is the average-pooled patch tokens, as the callbacks' embedding.
    The paper's weight-decay schedule (0.04 -> 0.4) is a training schedule
    (``spt.callbacks.WeightDecaySchedule``), not part of the module.

    Args:
        backbone: A ViT with ``forward_tokens`` and ``grid_size``
            (:class:`spt.backbone.VisionTransformer`), or a ``TeacherStudent`` of one.
        embed_dim: Token width of the backbone.
        predictor_dim: Predictor width (384).
        predictor_depth: Predictor blocks (12).
        predictor_heads: Predictor heads (None: the backbone's).
        num_targets: Target blocks per image (4).
        target_scale: Range of a target block's area, a fraction of the patches.
        target_aspect_ratio: Range of a target block's height / width.
        context_scale: Range of the context block's area.
        min_context: Fewest context patches kept (None: the authors' 10, at most a quarter
            of the patches on small grids).
        distance: ``"smooth_l1"`` (the authors' code) or ``"l2"`` (the paper's text).
        base_momentum: Target-encoder momentum at the first step (0.996).
        final_momentum: Target-encoder momentum at the end of the run (1.0).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.ijepa, backbone, predictor, ijepa_loss,
        mask_generator)``.

    Raises:
        TypeError: If the backbone cannot encode a subset of its patches.
        ValueError: If ``embed_dim`` is not the ViT's, or the mask settings do not fit its
            patch grid.

    Examples:
        >>> import spt
        >>> vit = spt.backbone.VisionTransformer(
        ...     16, 4, in_channels=1, dim=32, depth=1, heads=2, pos_embed="sincos",
        ...     class_token=False)
        >>> module = spt.methods.ijepa(vit, 32, predictor_dim=16, predictor_depth=1)
        >>> module.predictor.grid_size, module.backbone.base_momentum
        ((4, 4), 0.996)
    """
    check_embed_dim("ijepa", backbone, embed_dim)
    grid, heads = _vit_geometry(backbone)
    if min_context is None:
        min_context = max(1, min(10, grid[0] * grid[1] // 4))
    masks = MultiBlockMask(
        grid,
        num_targets=num_targets,
        target_scale=target_scale,
        target_aspect_ratio=target_aspect_ratio,
        context_scale=context_scale,
        min_context=min_context,
    )
    predictor = IJEPAPredictor(
        grid,
        embed_dim,
        dim=predictor_dim,
        depth=predictor_depth,
        heads=heads if predictor_heads is None else predictor_heads,
    )
    if not isinstance(backbone, TeacherStudent):
        backbone = LinearMomentumTeacherStudent(backbone, base_momentum, final_momentum)
    return spt_module.Module(
        forward=ijepa_forward,
        backbone=backbone,
        predictor=predictor,
        ijepa_loss=IJEPALoss(distance=distance),  # type: ignore[arg-type]
        mask_generator=masks,
        optim=optim,
        **module_kwargs,
    )
