"""DINOv2 (Oquab et al. 2023) as a ready module: iBOT with untied heads, Sinkhorn, KoLeo."""

from __future__ import annotations

from typing import Any

from torch import nn

import spt_module
from spt.forward import dinov2_forward
from spt.methods._ibot import build_masked_distillation


def dinov2(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 2048,
    bottleneck_dim: int = 256,
    out_dim: int = 65536,
    patch_out_dim: int = 65536,
    norm_last_layer: bool = True,
    use_bn_in_head: bool = False,
    student_temp: float = 0.1,
    teacher_temp: float = 0.07,
    warmup_teacher_temp: float = 0.04,
    warmup_teacher_temp_epochs: int = 30,
    centering: str = "sinkhorn_knopp",
    center_momentum: float = 0.9,
    ibot_weight: float = 1.0,
    koleo_weight: float = 0.1,
    mask_ratio: tuple[float, float] = (0.1, 0.5),
    mask_probability: float = 0.5,
    min_mask_patches: int = 4,
    mask_generator: Any = None,
    base_momentum: float = 0.992,
    final_momentum: float = 1.0,
    n_global_views: int = 2,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """DINOv2: DINO and iBOT losses with separate heads, Sinkhorn-Knopp centring and KoLeo.

    The step of :func:`spt.forward.dinov2_forward`. As in the paper's code: separate
    :class:`spt.methods.DINOHead` for the class token and the patches (65536 prototypes
    each), teacher probabilities from Sinkhorn-Knopp (3 iterations; ``centering="center"``
    gives DINO's centre instead), teacher temperatures 0.04 -> 0.07 over 30 epochs, the
    student's 0.1, the KoLeo regulariser on the student's class tokens of each global view
    with weight 0.1, the patch loss with weight 1, half the global views masked by blocks of
    10-50% of their patches, EMA teachers with cosine momentum 0.992 -> 1 (the paper's
    default configuration). The weight-decay schedule (0.04 -> 0.4) is a training callback:
    add ``spt.callbacks.WeightDecaySchedule(start=0.04, end=0.4)`` to the Trainer.

    Args:
        backbone: A ViT with a mask token (``spt.backbone.VisionTransformer(...,
            mask_token=True)``, registers optional), or a ``TeacherStudent`` of one.
        embed_dim: Width of the backbone's tokens.
        hidden_dim: Hidden width of the heads (2048).
        bottleneck_dim: Bottleneck width of the heads (256).
        out_dim: Prototypes of the class-token head (65536).
        patch_out_dim: Prototypes of the patch head (65536).
        norm_last_layer: Freeze the weight-norm gains of the last layers (True).
        use_bn_in_head: Batch norm in the heads' MLPs (False; the paper's option).
        student_temp: Student temperature (0.1).
        teacher_temp: Teacher temperature after the warm-up (0.07).
        warmup_teacher_temp: Teacher temperature at epoch 0 (0.04).
        warmup_teacher_temp_epochs: Epochs of the warm-up (30).
        centering: ``"sinkhorn_knopp"`` (DINOv2) or ``"center"`` (DINO's centre).
        center_momentum: Momentum of the centres when ``centering="center"`` (0.9).
        ibot_weight: Weight of the patch loss (1.0).
        koleo_weight: Weight of KoLeo (0.1; 0 leaves it out).
        mask_ratio: Range of the masked fraction of a masked view ((0.1, 0.5)).
        mask_probability: Probability that a global view is masked at all (0.5).
        min_mask_patches: Smallest masking block, in patches (4).
        mask_generator: Replaces the default ``spt_data.masking.BlockMask``.
        base_momentum: Teacher momentum at the first step (0.992).
        final_momentum: Teacher momentum at the end of the run (1.0).
        n_global_views: Number of leading global views (2).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.dinov2, backbone, projector, patch_projector,
        dino_loss, ibot_loss, koleo_loss, mask_generator, ...)``.

    Examples:
        >>> import spt
        >>> vit = spt.backbone.VisionTransformer(
        ...     16, 4, 1, dim=32, depth=1, heads=2, mask_token=True
        ... )
        >>> module = spt.methods.dinov2(vit, 32, out_dim=64, patch_out_dim=32, min_mask_patches=1)
        >>> module.dino_loss.centering, module.koleo_weight
        ('sinkhorn_knopp', 0.1)
    """
    return build_masked_distillation(
        "dinov2",
        dinov2_forward,
        backbone,
        embed_dim,
        hidden_dim=hidden_dim,
        bottleneck_dim=bottleneck_dim,
        out_dim=out_dim,
        patch_out_dim=patch_out_dim,
        shared_head=False,
        norm_last_layer=norm_last_layer,
        use_bn_in_head=use_bn_in_head,
        student_temp=student_temp,
        teacher_temp=teacher_temp,
        warmup_teacher_temp=warmup_teacher_temp,
        warmup_teacher_temp_epochs=warmup_teacher_temp_epochs,
        center_momentum=center_momentum,
        centering=centering,
        ibot_weight=ibot_weight,
        koleo_weight=koleo_weight,
        mask_ratio=mask_ratio,
        mask_probability=mask_probability,
        min_mask_patches=min_mask_patches,
        mask_generator=mask_generator,
        base_momentum=base_momentum,
        final_momentum=final_momentum,
        n_global_views=n_global_views,
        optim=optim,
        module_kwargs=module_kwargs,
    )
