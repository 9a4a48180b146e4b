"""Every method's exported backbone loads into a fresh network and gives the method's embedding."""

from __future__ import annotations

import inspect
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt.ema import TeacherStudent
from spt_module.testing import make_trainer

SIZE, EMBED = 8, 8

# Small values for the builders' size arguments (each used where a builder takes it).
SMALL: dict[str, Any] = {
    "hidden_dim": 16,
    "hidden_dims": (16,),
    "proj_dim": 8,
    "pred_hidden_dim": 16,
    "bottleneck_dim": 8,
    "out_dim": 16,
    "patch_out_dim": 16,
    "warmup_teacher_temp_epochs": 0,
    "decoder_dim": 8,
    "decoder_depth": 1,
    "decoder_heads": 2,
    "predictor_dim": 8,
    "predictor_depth": 1,
    "queue_size": 16,
    "support_size": 16,
    "num_prototypes": 8,
    "num_slices": 8,
}
# Builders' required keyword arguments.
REQUIRED: dict[str, Callable[[], Any]] = {
    "num_classes": lambda: 3,
    "text_backbone": lambda: spt.backbone.TextTransformer(
        context_length=8, dim=8, depth=1, heads=2
    ),
}


def _cnn() -> nn.Module:
    return spt.backbone.SmallCNN(in_channels=1, width=4, embed_dim=EMBED)


def _vit() -> nn.Module:
    return spt.backbone.VisionTransformer(
        img_size=SIZE,
        patch_size=4,
        in_channels=1,
        dim=EMBED,
        depth=1,
        heads=2,
        pos_embed="sincos",
        class_token=False,
    )


def _masked_vit() -> nn.Module:
    """A ViT with a class token and a learned mask token (iBOT, DINOv2)."""
    return spt.backbone.VisionTransformer(
        img_size=SIZE, patch_size=4, in_channels=1, dim=EMBED, depth=1, heads=2, mask_token=True
    )


def _builders() -> list[str]:
    """Every builder of ``spt.methods`` (its functions; the classes are heads and wrappers)."""
    return [n for n in spt.methods.__all__ if inspect.isfunction(getattr(spt.methods, n))]


def _small_module(name: str) -> tuple[spt.Module, Callable[[], nn.Module]]:
    """The builder's module over a small CNN, or a small ViT where the method needs one."""
    builder = getattr(spt.methods, name)
    parameters = inspect.signature(builder).parameters
    kwargs = {k: v for k, v in SMALL.items() if k in parameters}
    for key, parameter in parameters.items():
        if parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
            if key not in REQUIRED:
                pytest.fail(f"spt.methods.{name} requires {key!r}: add a small value to REQUIRED")
            kwargs[key] = REQUIRED[key]()
    refusals = []
    for make in (_cnn, _vit, _masked_vit):
        try:
            return builder(make(), EMBED, **kwargs), make
        except (TypeError, ValueError) as err:  # e.g. a method that needs a ViT
            refusals.append(f"{make.__name__}: {err}")
    pytest.fail(f"spt.methods.{name} takes neither small backbone: {refusals}")


def _make_sides_differ(backbone: nn.Module) -> None:
    """Move the student away from its teacher, as training does."""
    if isinstance(backbone, TeacherStudent):
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for p in backbone.student.parameters():
                p.add_(torch.randn(p.shape, generator=gen))


@pytest.mark.parametrize("name", _builders())
def test_export_loads_strictly_into_a_fresh_backbone_and_gives_the_method_embedding(
    name: str, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    module, make = _small_module(name)
    _make_sides_differ(module.backbone)
    module.eval()
    images = torch.randn(4, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    batch = {"image": images, "label": torch.arange(4) % 3}
    with torch.no_grad():
        embedding = module(batch, "validate")["embedding"]  # what the monitors measure

    path = spt.save_backbone(module, tmp_path / "backbone.pt")
    state = torch.load(path, weights_only=True)
    assert not any(k.startswith(("student.", "teacher.")) or k == "num_updates" for k in state)
    torch.manual_seed(1)
    fresh = spt.load_backbone(make(), path, strict=True).eval()
    plain = make()
    plain.load_state_dict(state, strict=True)  # without spt: plain torch loads it too
    with torch.no_grad():
        torch.testing.assert_close(fresh(images), embedding, rtol=0, atol=0)
        torch.testing.assert_close(plain.eval()(images), embedding, rtol=0, atol=0)


def test_the_export_of_a_teacher_evaluating_method_is_its_teacher_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    module, make = _small_module("ijepa")  # I-JEPA evaluates the target encoder (the teacher)
    _make_sides_differ(module.backbone)
    with caplog.at_level(logging.INFO, logger="spt"):
        path = spt.save_backbone(module, tmp_path / "backbone.pt")
    assert "the teacher of module.backbone" in caplog.text
    assert "ijepa_forward" in caplog.text
    fresh = spt.load_backbone(make(), path).eval()
    images = torch.randn(2, 1, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(fresh(images), module.backbone.teacher.eval()(images))


class _TwoViews(Dataset[list[dict[str, Any]]]):
    def __init__(self, n: int = 8) -> None:
        self.images = torch.randn(n, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        return [{"image": self.images[i] + 0.1 * v, "label": i % 3} for v in range(2)]


def test_a_byol_run_writes_its_student_and_the_log_line_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torch.manual_seed(0)
    module, make = _small_module("byol")
    module.optim = {"optimizer": {"type": "SGD", "lr": 0.5}, "scheduler": None}
    data = spt.data.DataModule(train=DataLoader(_TwoViews(), batch_size=4))
    with caplog.at_level(logging.INFO, logger="spt"):
        spt.Manager(trainer=make_trainer(max_steps=2), module=module, data=data, run_dir=tmp_path)()
    assert "the student of module.backbone (TeacherStudent of SmallCNN)" in caplog.text
    assert "spt.load_backbone(network, path)" in caplog.text
    pair = module.backbone
    images = torch.randn(2, 1, SIZE, SIZE)
    with torch.no_grad():
        assert not torch.allclose(pair.student.eval()(images), pair.teacher.eval()(images))
        fresh = spt.load_backbone(make(), tmp_path / "backbone.pt").eval()
        torch.testing.assert_close(fresh(images), pair.student(images))


def test_a_checkpoint_of_a_teacher_student_loads_its_student_or_its_teacher(
    tmp_path: Path,
) -> None:
    module, make = _small_module("byol")
    _make_sides_differ(module.backbone)
    torch.save({"state_dict": module.state_dict()}, tmp_path / "last.ckpt")  # a Lightning one
    images = torch.randn(2, 1, SIZE, SIZE)
    student = spt.load_backbone(make(), tmp_path / "last.ckpt").eval()
    teacher = spt.load_backbone(make(), tmp_path / "last.ckpt", part="teacher").eval()
    pair = module.backbone.eval()
    with torch.no_grad():
        torch.testing.assert_close(student(images), pair.student(images))
        torch.testing.assert_close(teacher(images), pair.teacher(images))


def test_plain_weights_load_into_a_teacher_student_on_both_sides(tmp_path: Path) -> None:
    trained, _ = _small_module("byol")
    _make_sides_differ(trained.backbone)
    path = spt.save_backbone(trained, tmp_path / "backbone.pt")
    rebuilt, _ = _small_module("byol")  # what `spt embed` builds from the run's config
    spt.load_backbone(rebuilt.backbone, path)
    for side in (rebuilt.backbone.student, rebuilt.backbone.teacher):
        for mine, theirs in zip(
            side.state_dict().values(), trained.backbone.student.state_dict().values(), strict=True
        ):
            assert torch.equal(mine, theirs)


def test_load_backbone_is_public_on_spt_and_on_the_path_older_logs_suggest() -> None:
    code = (
        "import spt\n"
        "assert 'load_backbone' in spt.__all__ and 'save_backbone' in spt.__all__\n"
        "assert spt.load_backbone is spt.export.load_backbone is spt.manager.load_backbone\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_part_for_a_plain_backbone_is_refused(tmp_path: Path) -> None:
    module, _ = _small_module("simclr")
    with pytest.raises(ValueError, match=r"part='teacher'.*not a TeacherStudent"):
        spt.save_backbone(module, tmp_path / "b.pt", part="teacher")
