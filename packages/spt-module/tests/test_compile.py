"""Module(compile=...): components compiled in place, same checkpoints, same steps as eager."""

from __future__ import annotations

from typing import Any

import lightning as pl
import pytest
import torch
from torch import nn

from spt_module import Module, compile_components
from spt_module.testing import make_dataloader, make_module, make_trainer


def test_compile_true_selects_every_component_with_parameters() -> None:
    module = make_module(compile=True, loss=nn.CrossEntropyLoss())
    assert module._compile.names == ["backbone", "head"]
    assert make_module(compile=["head"])._compile.names == ["head"]
    assert make_module()._compile.names == []


def test_unknown_component_is_an_error_listing_the_components() -> None:
    with pytest.raises(
        ValueError,
        match=r"\['backbon'\].*components with parameters are: "
        r"backbone, head",
    ):
        make_module(compile=["backbon"])
    with pytest.raises(TypeError, match="list of component names"):
        make_module(compile="backbone")


def test_compile_mode_is_checked() -> None:
    with pytest.raises(ValueError, match=r"is not a torch\.compile mode; use one of"):
        make_module(compile=True, compile_mode="fastest")
    with pytest.raises(ValueError, match="compile_mode='max-autotune' but compile=False"):
        make_module(compile_mode="max-autotune")
    assert make_module(compile=True, compile_mode="max-autotune")._compile.mode == "max-autotune"


def test_compiling_in_place_keeps_state_dict_keys_and_tensors() -> None:
    module = make_module()
    before = dict(module.state_dict())
    assert compile_components(module, True) == ["backbone", "head"]
    after = module.state_dict()
    assert list(after) == list(before)
    assert all(after[k] is before[k] or torch.equal(after[k], before[k]) for k in before)
    assert module.backbone._compiled_call_impl is not None  # compiled at its first call


class LossRecorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[torch.Tensor] = []

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, *args: Any) -> None:
        self.losses.append(outputs["loss"].detach().clone())


def _train(**kwargs: Any) -> tuple[Module, list[torch.Tensor]]:
    torch.manual_seed(0)
    module = make_module(**kwargs)
    recorder = LossRecorder()
    make_trainer(max_steps=4, callbacks=[recorder]).fit(module, make_dataloader(n=64))
    return module, recorder.losses


@pytest.mark.slow
def test_compiled_steps_match_eager_steps() -> None:
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    eager, eager_losses = _train()
    compiled, compiled_losses = _train(compile=True)
    assert torch._dynamo.utils.counters["frames"]["ok"] > 0  # the components did compile
    assert compiled.backbone._compiled_call_impl is not None
    assert len(compiled_losses) == len(eager_losses) == 4
    torch.testing.assert_close(torch.stack(compiled_losses), torch.stack(eager_losses))
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(q, p, msg=name)
    assert list(compiled.state_dict()) == list(eager.state_dict())
