"""iBOT (Zhou et al. 2022) as a ready module: DINO heads, masked patch distillation, masks."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

import spt_module
from spt.ema import TeacherStudent
from spt.forward import ibot_forward
from spt.methods._byol import with_teacher
from spt.methods._dino import DINOHead
from spt.methods._simclr import check_embed_dim
from spt_data.masking import BlockMask
from spt_losses import DINOLoss, IBOTPatchLoss, KoLeoLoss


def check_masked_vit(method: str, backbone: nn.Module) -> tuple[int, int]:
    """The patch grid of a ViT that can replace masked patches by its mask token."""
    vit: Any = backbone.student if isinstance(backbone, TeacherStudent) else backbone
    if not hasattr(vit, "forward_tokens") or not hasattr(vit, "grid_size"):
        raise TypeError(
            f"spt.methods.{method}: the backbone ({type(vit).__name__}) returns no patch "
            "tokens; pass a ViT such as spt.backbone.VisionTransformer(..., mask_token=True)"
        )
    if getattr(vit, "mask_token", None) is None:
        raise ValueError(
            f"spt.methods.{method}: the ViT has no mask token, which the student needs for "
            "the masked patches; build it with mask_token=True"
        )
    return (int(vit.grid_size[0]), int(vit.grid_size[1]))


def build_masked_distillation(
    method: str,
    forward: Callable[[Any, Any, str], dict[str, Any]],
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int,
    bottleneck_dim: int,
    out_dim: int,
    patch_out_dim: int,
    shared_head: bool,
    norm_last_layer: bool,
    use_bn_in_head: bool,
    student_temp: float,
    teacher_temp: float,
    warmup_teacher_temp: float,
    warmup_teacher_temp_epochs: int,
    center_momentum: float,
    centering: Any,
    ibot_weight: float,
    koleo_weight: float,
    mask_ratio: tuple[float, float],
    mask_probability: float,
    min_mask_patches: int,
    mask_generator: Any,
    base_momentum: float,
    final_momentum: float,
    n_global_views: int,
    optim: Any,
    module_kwargs: dict[str, Any],
) -> spt_module.Module:
    """The module of iBOT and DINOv2: heads, losses and masks around ``forward``."""
    check_embed_dim(method, backbone, embed_dim)
    grid = check_masked_vit(method, backbone)
    if n_global_views < 1:
        raise ValueError(f"spt.methods.{method}: n_global_views={n_global_views} must be >= 1")
    if shared_head and patch_out_dim != out_dim:
        raise ValueError(
            f"spt.methods.{method}: shared_head=True uses one head for the class and the "
            f"patch tokens, so patch_out_dim={patch_out_dim} must equal out_dim={out_dim}; "
            "set shared_head=False for separate heads"
        )
    if koleo_weight < 0:
        raise ValueError(f"spt.methods.{method}: koleo_weight={koleo_weight} must be >= 0")
    if mask_generator is None:
        mask_generator = BlockMask(
            grid,
            ratio=mask_ratio,
            min_num_patches=min_mask_patches,
            mask_probability=mask_probability,
        )
    temps = {
        "student_temp": student_temp,
        "teacher_temp": teacher_temp,
        "warmup_teacher_temp": warmup_teacher_temp,
        "warmup_teacher_temp_epochs": warmup_teacher_temp_epochs,
        "center_momentum": center_momentum,
        "centering": centering,
    }
    dino_head = partial(  # the class and patch heads differ only in their prototypes
        DINOHead,
        embed_dim,
        hidden_dim,
        bottleneck_dim,
        norm_last_layer=norm_last_layer,
        use_bn=use_bn_in_head,
    )
    head = dino_head(out_dim=out_dim)
    components: dict[str, Any] = {
        "backbone": with_teacher(backbone, base_momentum, final_momentum),
        "projector": with_teacher(head, base_momentum, final_momentum),
        "dino_loss": DINOLoss(out_dim, **temps),
        "ibot_loss": IBOTPatchLoss(patch_out_dim, **temps),
        "mask_generator": mask_generator,
        "n_global_views": n_global_views,
        "ibot_weight": ibot_weight,
    }
    if not shared_head:
        patch_head = dino_head(out_dim=patch_out_dim)
        components["patch_projector"] = with_teacher(patch_head, base_momentum, final_momentum)
    if koleo_weight > 0:
        components["koleo_loss"] = KoLeoLoss()
        components["koleo_weight"] = koleo_weight
    return spt_module.Module(forward=forward, optim=optim, **components, **module_kwargs)


def ibot(
    backbone: nn.Module,
    embed_dim: int,
    *,
    hidden_dim: int = 2048,
    bottleneck_dim: int = 256,
    out_dim: int = 8192,
    patch_out_dim: int = 8192,
    shared_head: bool = True,
    norm_last_layer: bool = True,
    use_bn_in_head: bool = False,
    student_temp: float = 0.1,
    teacher_temp: float = 0.07,
    warmup_teacher_temp: float = 0.04,
    warmup_teacher_temp_epochs: int = 30,
    center_momentum: float = 0.9,
    ibot_weight: float = 1.0,
    mask_ratio: tuple[float, float] = (0.1, 0.5),
    mask_probability: float = 0.5,
    min_mask_patches: int = 4,
    mask_generator: Any = None,
    base_momentum: float = 0.996,
    final_momentum: float = 1.0,
    n_global_views: int = 2,
    optim: Any = None,
    **module_kwargs: Any,
) -> spt_module.Module:
    """iBOT: DINO on the class token plus masked patch distillation from the EMA teacher.

    One :class:`spt.methods.DINOHead` serves the class and the patch tokens (the paper's
    shared head; ``shared_head=False`` gives the patches their own head of
    ``patch_out_dim``). Losses: :class:`spt.losses.DINOLoss` and
    :class:`spt.losses.IBOTPatchLoss` with DINO's centring, both teacher temperatures rising
    from 0.04 to 0.07 over 30 epochs, the student's 0.1, weights 1 and 1. Each global view
    of a sample is masked with probability 0.5 by blocks covering 10-50% of its patches
    (:class:`spt_data.masking.BlockMask`, drawn on the device unless the batch carries a
    ``"mask"`` per global view). Backbone and heads are EMA pairs (cosine momentum 0.996 ->
    1). The paper's weight-decay schedule (0.04 -> 0.4) is a training callback: add
    ``spt.callbacks.WeightDecaySchedule(start=0.04, end=0.4)`` to the Trainer.

    Args:
        backbone: A ViT with a mask token (``spt.backbone.VisionTransformer(...,
            mask_token=True)``), or a ``TeacherStudent`` of one.
        embed_dim: Width of the backbone's tokens.
        hidden_dim: Hidden width of the heads (2048).
        bottleneck_dim: Bottleneck width of the heads (256).
        out_dim: Prototypes of the class-token head (8192).
        patch_out_dim: Prototypes of the patch head (8192; equal to ``out_dim`` when shared).
        shared_head: One head for class and patch tokens (True).
        norm_last_layer: Freeze the weight-norm gains of the last layers (True).
        use_bn_in_head: Batch norm in the heads' MLPs (False; the paper's option).
        student_temp: Student temperature (0.1).
        teacher_temp: Teacher temperature after the warm-up (0.07).
        warmup_teacher_temp: Teacher temperature at epoch 0 (0.04).
        warmup_teacher_temp_epochs: Epochs of the warm-up (30).
        center_momentum: Momentum of both centres (0.9).
        ibot_weight: Weight of the patch loss (1.0).
        mask_ratio: Range of the masked fraction of a masked view ((0.1, 0.5)).
        mask_probability: Probability that a global view is masked at all (0.5).
        min_mask_patches: Smallest masking block, in patches (4).
        mask_generator: Replaces the default ``BlockMask`` (anything with
            ``generate(batch_size, device=...) -> (B, N) bool``).
        base_momentum: Teacher momentum at the first step (0.996).
        final_momentum: Teacher momentum at the end of the run (1.0).
        n_global_views: Number of leading global views (2).
        optim: Optimizer spec of ``spt.Module`` (None: AdamW with cosine decay).
        **module_kwargs: Passed to ``spt.Module``.

    Returns:
        ``spt.Module(forward=spt.forward.ibot, backbone, projector, dino_loss, ibot_loss,
        mask_generator, ...)``.

    Examples:
        >>> import spt
        >>> vit = spt.backbone.VisionTransformer(
        ...     16, 4, 1, dim=32, depth=1, heads=2, mask_token=True
        ... )
        >>> module = spt.methods.ibot(vit, 32, out_dim=64, patch_out_dim=64, min_mask_patches=1)
        >>> module.ibot_loss.out_dim, hasattr(module, "patch_projector")
        (64, False)
    """
    return build_masked_distillation(
        "ibot",
        ibot_forward,
        backbone,
        embed_dim,
        hidden_dim=hidden_dim,
        bottleneck_dim=bottleneck_dim,
        out_dim=out_dim,
        patch_out_dim=patch_out_dim,
        shared_head=shared_head,
        norm_last_layer=norm_last_layer,
        use_bn_in_head=use_bn_in_head,
        student_temp=student_temp,
        teacher_temp=teacher_temp,
        warmup_teacher_temp=warmup_teacher_temp,
        warmup_teacher_temp_epochs=warmup_teacher_temp_epochs,
        center_momentum=center_momentum,
        centering="center",
        ibot_weight=ibot_weight,
        koleo_weight=0.0,
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
