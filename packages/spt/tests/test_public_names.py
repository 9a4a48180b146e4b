"""The names code ported from stable-pretraining uses: forward functions, EMA wrapper, callback."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt._reexport import reexport
from spt_module.testing import make_trainer

METHODS = [
    "simclr",
    "byol",
    "vicreg",
    "barlow_twins",
    "dino",
    "supervised",
    "mae",
    "swav",
    "nnclr",
    "moco_v2",
    "moco_v3",
    "simsiam",
    "supcon",
    "clip",
]


@pytest.mark.parametrize("method", METHODS)
def test_short_forward_name_is_the_function(method: str) -> None:
    short = getattr(spt.forward, method)
    assert isinstance(short, types.FunctionType), f"spt.forward.{method} is {short!r}"
    assert short is getattr(spt.forward, f"{method}_forward")
    assert {method, f"{method}_forward"} <= set(spt.forward.__all__)


def test_forward_package_has_no_public_submodule() -> None:
    public = [n for n in dir(spt.forward) if not n.startswith("_")]
    assert [n for n in public if isinstance(getattr(spt.forward, n), types.ModuleType)] == []


def test_module_built_with_a_short_forward_name_computes_its_loss() -> None:
    module = spt.Module(
        forward=spt.forward.simclr,
        backbone=nn.Sequential(nn.Flatten(), nn.Linear(12, 8)),
        projector=nn.Linear(8, 4),
        simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
        optim={"optimizer": {"type": "SGD", "lr": 0.1}},
    )
    views = [{"image": torch.randn(4, 3, 2, 2)}, {"image": torch.randn(4, 3, 2, 2)}]
    out = module.forward(views, "fit")
    assert out["loss"].ndim == 0
    assert torch.isfinite(out["loss"])


class _TwoViews(Dataset[list[dict[str, torch.Tensor]]]):
    def __init__(self, n: int) -> None:
        self.x = torch.randn(n, 6, generator=torch.Generator().manual_seed(1))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> list[dict[str, torch.Tensor]]:
        return [{"image": self.x[i]}, {"image": self.x[i] + 0.1}]


def _ema_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    # A custom forward: it does not attach the teacher updates itself.
    a, b = (self.backbone(v["image"]) for v in batch)
    with torch.no_grad():
        target = self.backbone.forward_teacher(batch[1]["image"])
    return {"loss": (a - target).pow(2).mean() + (b - a).pow(2).mean()}


def test_teacher_student_wrapper_and_callback_under_their_ported_names() -> None:
    assert spt.backbone.TeacherStudentWrapper is spt.ema.TeacherStudent
    assert spt.callbacks.TeacherStudentCallback is spt.ema.TeacherStudentCallback
    from spt.backbone import TeacherStudentWrapper
    from spt.callbacks import TeacherStudentCallback

    torch.manual_seed(0)
    module = spt.Module(
        forward=_ema_forward,
        backbone=TeacherStudentWrapper(nn.Linear(6, 4), base_momentum=0.5),
        optim={"optimizer": {"type": "SGD", "lr": 0.1}},
    )
    teacher0 = module.backbone.teacher.weight.detach().clone()
    trainer = make_trainer(max_epochs=1, callbacks=[TeacherStudentCallback()])
    trainer.fit(module, DataLoader(_TwoViews(8), batch_size=2))  # 4 optimizer steps
    assert int(module.backbone.num_updates) == 4
    assert module.backbone.total_steps == 4
    assert not torch.equal(module.backbone.teacher.weight, teacher0)


def test_backbone_import_stays_free_of_lightning() -> None:
    code = "import sys, spt.backbone; print('lightning' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("alias", ["optim", "losses", "data", "callbacks"])
def test_alias_modules_share_one_mechanism(alias: str) -> None:
    module = importlib.import_module(f"spt.{alias}")
    assert module.__getattr__.__qualname__.startswith("reexport.")
    with pytest.raises(AttributeError, match=rf"'spt\.{alias}' has no attribute 'no_such_name'"):
        _ = module.no_such_name
    with pytest.raises(AttributeError):
        _ = module.__path__  # a module, not a package


def test_alias_hands_out_submodules_and_private_names() -> None:
    from spt.optim import build_optimizers

    assert build_optimizers is importlib.import_module("spt_optim").build_optimizers
    assert spt.optim.schedulers is importlib.import_module("spt_optim.schedulers")
    assert spt.data.transforms is importlib.import_module("spt_data.transforms")


def test_reexport_rejects_an_extra_name_the_package_already_has() -> None:
    with pytest.raises(ValueError, match=r"\['LARS'\].*spt_optim"):
        reexport({"__name__": "alias"}, "spt_optim", extra={"LARS": "spt.ema"})


def test_reexport_extra_name_is_in_all_and_loaded_on_first_access() -> None:
    namespace: dict[str, Any] = {"__name__": "alias"}
    getattr_ = reexport(namespace, "spt_losses", extra={"TeacherStudent": "spt.ema"})
    assert "TeacherStudent" in namespace["__all__"]
    assert "TeacherStudent" not in namespace
    assert getattr_("TeacherStudent") is spt.ema.TeacherStudent
    assert namespace["TeacherStudent"] is spt.ema.TeacherStudent
