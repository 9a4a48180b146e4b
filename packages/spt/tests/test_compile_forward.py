"""SimCLR's and BYOL's forward functions trace into one graph: no graph breaks under torch.compile.

``torch._dynamo.explain`` runs the forward as ``spt.Module`` calls it at the fit stage, on the
list of view dicts a multi-view GPU transform makes; BYOL's is also traced with its Trainer
attached, where the forward hooks the EMA teachers to the optimizer.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import spt
from spt_module.testing import make_trainer


class TwoViews(Dataset[list[dict[str, Any]]]):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        gen = torch.Generator().manual_seed(i)
        return [{"image": torch.randn(3, 16, 16, generator=gen), "label": i % 2} for _ in range(2)]


def views() -> list[dict[str, Any]]:
    return next(iter(DataLoader(TwoViews(), batch_size=4)))


def build(method: str) -> spt.Module:
    torch.manual_seed(0)
    backbone = spt.backbone.SmallCNN(3, 8, embed_dim=32)
    builder = getattr(spt.methods, method)
    module: spt.Module = builder(backbone, 32, hidden_dim=64, proj_dim=16)
    return module


def graph_breaks(forward: Any, module: spt.Module) -> tuple[int, list[str]]:
    torch._dynamo.reset()
    report = torch._dynamo.explain(forward)(module, views(), "fit")
    reasons = [str(r.reason).splitlines()[0] for r in report.break_reasons]
    return report.graph_count, reasons


@pytest.mark.parametrize(
    ("method", "forward"),
    [("simclr", spt.forward.simclr_forward), ("byol", spt.forward.byol_forward)],
)
def test_forward_traces_without_graph_breaks(method: str, forward: Any) -> None:
    graphs, reasons = graph_breaks(forward, build(method))
    assert reasons == []
    assert graphs == 1


def test_byol_forward_with_its_trainer_attached_has_no_graph_break() -> None:
    module = build("byol")
    make_trainer(max_steps=1).fit(module, DataLoader(TwoViews(), batch_size=4))
    assert module._trainer is not None  # the EMA hook-up path of the forward runs
    graphs, reasons = graph_breaks(spt.forward.byol_forward, module)
    assert reasons == []
    assert graphs == 1


def test_compiling_a_teacher_student_pair_compiles_the_teacher_too() -> None:
    """``compile=True`` reaches the EMA teacher, which ``forward_teacher`` calls directly."""
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    pair = spt.ema.TeacherStudent(torch.nn.Linear(4, 2), total_steps=10)
    counter = CompileCounter()
    pair.compile(backend=counter)
    x = torch.randn(3, 4)
    pair(x)
    assert counter.frame_count == 1  # the student's path
    out = pair.forward_teacher(x)
    assert counter.frame_count == 2  # and the teacher's
    torch.testing.assert_close(out, pair.teacher(x))
    assert not out.requires_grad
