"""Three iBOT steps through spt.Module equal the paper's Algorithm 1 written out by hand.

The reference (``_ibot_reference.plain_loop`` with centring) follows iBOT (Zhou et al. 2022):
one head shared by the class and patch tokens, DINO's class-token loss over pairs of
different views, the masked patch loss on the global views (per image the mean over its
masked patches), both teachers centred and sharpened, an optimizer step, the EMA of the ViT
and the head, then both centre updates from the same teacher outputs.
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
    module = ref.build(spt.methods.ibot, patch_out_dim=ref.OUT)
    with torch.no_grad():  # non-zero starting centres, so centring is seen from step 0
        module.dino_loss.center.normal_(0, 0.5)
        module.ibot_loss.center.normal_(0, 0.5)
    return module


def _reference(module: spt.Module, **kwargs: object) -> tuple[ref.Nets, torch.Tensor, torch.Tensor]:
    nets = ref.Nets(module, shared_head=True)
    cls_center = module.dino_loss.center.clone()
    patch_center = module.ibot_loss.center.clone()
    options = {"use_sinkhorn": False, "koleo_weight": 0.0, **kwargs}
    ref.plain_loop(nets, cls_center, patch_center, **options)  # type: ignore[arg-type]
    return nets, cls_center, patch_center


def test_ibot_steps_match_plain_loop() -> None:
    module = _module()
    nets, cls_center, patch_center = _reference(module)

    ref.fit(module)

    assert not hasattr(module, "patch_projector") or module.patch_projector is None
    ref.assert_same(module.backbone.student, nets.vit, "backbone.student")
    ref.assert_same(module.projector.student, nets.head, "projector.student")
    ref.assert_same(module.backbone.teacher, nets.teachers[0], "backbone.teacher")
    ref.assert_same(module.projector.teacher, nets.teachers[1], "projector.teacher")
    torch.testing.assert_close(module.dino_loss.center, cls_center, **ref.TOL)
    torch.testing.assert_close(module.ibot_loss.center, patch_center, **ref.TOL)


def test_ibot_reference_sees_the_centres() -> None:
    """A reference that centres with zeros ends elsewhere: the centres enter the step."""
    module = _module()
    ref.fit(module)
    other = _module()
    with torch.no_grad():
        other.ibot_loss.center.zero_()
    nets, _, _ = _reference(other)
    assert ref.largest_gap(module.projector.student, nets.head) > 1e-6


def test_ibot_fit_without_masks_draws_them_with_the_generator() -> None:
    module = ref.build(spt.methods.ibot, patch_out_dim=ref.OUT, mask_probability=1.0)
    views = ref.MaskedViews()[0]
    batch = [
        {k: v for k, v in view.items() if k != "mask"} | {"image": view["image"][None]}
        for view in views
    ]
    for view in batch:
        view["label"] = torch.tensor([0])
    batch = [{**v, "image": torch.cat([v["image"]] * 2)} for v in batch]
    out = module.forward(batch, "fit")
    assert torch.isfinite(out["loss"])
    assert out["embedding"].shape == (4, ref.DIM)


def test_ibot_fit_without_masks_or_generator_is_a_clear_error() -> None:
    module = ref.build(spt.methods.ibot, patch_out_dim=ref.OUT)
    module.mask_generator = None
    batch = [{"image": view["image"][None]} for view in ref.MaskedViews()[0]]
    with pytest.raises(ValueError, match="mask_generator"):
        module.forward(batch, "fit")


def test_ibot_shared_head_needs_one_output_width() -> None:
    vit = spt.backbone.VisionTransformer(16, 4, 1, dim=16, depth=1, heads=2, mask_token=True)
    with pytest.raises(ValueError, match="shared_head"):
        spt.methods.ibot(vit, 16, out_dim=8, patch_out_dim=16)
