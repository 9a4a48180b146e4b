"""Three DINOv2 steps through spt.Module equal the paper's step written out by hand.

The reference (``_ibot_reference.plain_loop`` with Sinkhorn-Knopp and KoLeo) follows DINOv2
(Oquab et al. 2023): the DINO class-token loss and the iBOT patch loss with teacher
probabilities from Sinkhorn-Knopp, separate heads, KoLeo on the student's class tokens of
each global view, an optimizer step, then the EMA of the ViT and both heads. Global views
carry masks of different sizes (some empty); a local view goes to the student only. The
ViT has a register token and interpolates its position embedding for the local view.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import _ibot_reference as ref

import spt


def _module() -> spt.Module:
    return ref.build(spt.methods.dinov2, patch_out_dim=ref.PATCH_OUT, koleo_weight=ref.KOLEO_WEIGHT)


def _reference(module: spt.Module, **kwargs: object) -> ref.Nets:
    nets = ref.Nets(module, shared_head=False)
    zero = torch.zeros(1, ref.OUT, dtype=torch.float64)
    patch_zero = torch.zeros(1, ref.PATCH_OUT, dtype=torch.float64)
    options = {"use_sinkhorn": True, "koleo_weight": ref.KOLEO_WEIGHT, **kwargs}
    ref.plain_loop(nets, zero, patch_zero, **options)  # type: ignore[arg-type]
    return nets


def test_dinov2_steps_match_plain_loop() -> None:
    module = _module()
    initial = {k: v.clone() for k, v in module.backbone.student.state_dict().items()}
    nets = _reference(module)

    ref.fit(module)

    assert int(module.backbone.num_updates) == ref.STEPS == module.backbone.total_steps
    ref.assert_same(module.backbone.student, nets.vit, "backbone.student")
    ref.assert_same(module.projector.student, nets.head, "projector.student")
    ref.assert_same(module.patch_projector.student, nets.patch_head, "patch_projector.student")
    ref.assert_same(module.backbone.teacher, nets.teachers[0], "backbone.teacher")
    ref.assert_same(module.projector.teacher, nets.teachers[1], "projector.teacher")
    ref.assert_same(module.patch_projector.teacher, nets.teachers[2], "patch_projector.teacher")
    moved = [k for k, v in initial.items() if not torch.equal(v, nets.vit.state_dict()[k])]
    assert "mask_token" in moved  # the masked patches were seen by the student


def test_dinov2_reference_sees_koleo_and_the_temperature() -> None:
    """A reference without KoLeo, or with the final temperature from step 0, ends elsewhere."""
    module = _module()
    ref.fit(module)
    for changed in ({"koleo_weight": 0.0}, {"warmup_temp": ref.TEACHER_TEMP}):
        nets = _reference(_module(), **changed)
        assert ref.largest_gap(module.backbone.student, nets.vit) > 1e-6, changed


def test_dinov2_builder_defaults_follow_the_paper() -> None:
    vit = spt.backbone.VisionTransformer(32, 4, 1, dim=16, depth=1, heads=2, mask_token=True)
    module = spt.methods.dinov2(
        vit, 16, hidden_dim=32, bottleneck_dim=8, out_dim=64, patch_out_dim=32
    )
    assert module.dino_loss.centering == module.ibot_loss.centering == "sinkhorn_knopp"
    assert module.dino_loss.teacher_temperature(0) == 0.04
    assert module.dino_loss.teacher_temperature(30) == 0.07
    assert module.koleo_weight == 0.1
    assert module.ibot_weight == 1.0
    assert module.patch_projector.student.out_dim == 32
    assert module.backbone.base_momentum == 0.992
    assert module.backbone.final_momentum == 1.0
    assert module.mask_generator.mask_probability == 0.5


def test_dinov2_rejects_a_vit_without_mask_token() -> None:
    vit = spt.backbone.VisionTransformer(16, 4, 1, dim=16, depth=1, heads=2)
    with pytest.raises(ValueError, match="mask_token=True"):
        spt.methods.dinov2(vit, 16, out_dim=8, patch_out_dim=8)
