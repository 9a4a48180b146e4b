"""The torch internal spt_callbacks sets (``_torch.py``), against the installed torch.

Each test fails when a torch release renames or stops calling what the function replaces.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spt_callbacks._torch import skip_graph_capture_check


def _adamw(device: str = "cpu") -> torch.optim.AdamW:
    torch.manual_seed(0)
    return torch.optim.AdamW(nn.Linear(4, 3).to(device).parameters(), lr=0.1)


def _step_with_fixed_grads(optimizer: torch.optim.Optimizer, steps: int = 3) -> None:
    for step in range(steps):
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = torch.full_like(p, 0.5 - step)
        optimizer.step()


def test_adamw_step_calls_the_graph_capture_check(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(
        torch.optim.Optimizer,
        "_accelerator_graph_capture_health_check",
        lambda self: calls.append(self),
    )
    optimizer = _adamw()
    _step_with_fixed_grads(optimizer, steps=2)
    assert calls == [optimizer, optimizer]


def test_skipped_check_is_not_called_and_the_update_is_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference, optimizer = _adamw(), _adamw()
    _step_with_fixed_grads(reference)
    assert skip_graph_capture_check(optimizer)

    def fail(self: object) -> None:
        raise AssertionError("the check ran")

    monkeypatch.setattr(torch.optim.Optimizer, "_accelerator_graph_capture_health_check", fail)
    _step_with_fixed_grads(optimizer)
    expected, got = reference.param_groups[0]["params"], optimizer.param_groups[0]["params"]
    for p, q in zip(expected, got, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_check_kept_for_parameters_off_the_cpu() -> None:
    optimizer = _adamw(device="meta")
    assert not skip_graph_capture_check(optimizer)
    assert "_accelerator_graph_capture_health_check" not in vars(optimizer)
