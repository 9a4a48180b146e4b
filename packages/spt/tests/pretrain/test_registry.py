"""A user adds an encoder or an objective with a decorator, without editing spt's files."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from spt.pretrain import (
    ENCODERS,
    OBJECTIVES,
    Objective,
    SSLPretrainModule,
    build_encoder,
    encoder_names,
    objective_names,
    read_series,
    register_encoder,
    register_objective,
)


# The docs' "Adding an encoder", step 1: an encoder class whose arguments are its parameters.
class ConvEncoder(nn.Module):
    def __init__(self, d_input: int, d_model: int = 16, kernel_size: int = 3) -> None:
        super().__init__()
        self.n_channels, self.embed_dim = d_input, d_model
        self.conv = nn.Conv1d(d_input, d_model, kernel_size, padding=kernel_size // 2)

    def tokens(
        self, x: Tensor, mask: Tensor | None = None, hidden: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if hidden is not None:
            x = x.masked_fill(hidden.unsqueeze(-1), 0.0)
        observed = torch.ones(x.shape[:2], dtype=torch.bool) if mask is None else mask
        return self.conv(x.transpose(1, 2)).transpose(1, 2), observed

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.tokens(x, mask)[0].mean(dim=1)


def mean_match_forward(self: Any, batch: Any, stage: str) -> dict[str, Any]:
    """Regress each series' channel means from the pooled tokens."""
    x, observed = read_series(batch, "mean_match_forward")
    tokens, _ = self.encoder.tokens(x, observed)
    pred = self.head(tokens.mean(dim=1))
    loss = self.scale * (pred - x.mean(dim=1)).pow(2).mean()
    return {"loss": loss, "pred_norm": pred.detach().norm()}


def mean_match(encoder: nn.Module, scale: float = 1.0) -> Objective:
    head = nn.Linear(encoder.embed_dim, encoder.n_channels)
    return Objective(mean_match_forward, {"head": head, "scale": scale})


@pytest.fixture
def user_components() -> Iterator[None]:
    # Step 2: register by name, from the user's own code.
    register_encoder("test_conv")(ConvEncoder)
    register_objective("test_mean_match")(mean_match)
    yield
    ENCODERS.unregister("test_conv")
    OBJECTIVES.unregister("test_mean_match")


def test_builtin_names() -> None:
    assert {"transformer", "gru"} <= set(encoder_names())
    assert {"mae", "contrastive", "jepa"} <= set(objective_names())


@pytest.mark.usefixtures("user_components")
def test_user_encoder_is_selected_by_name(make_config: Any) -> None:
    # Steps 3-4: the config names it, with its own parameter.
    config = make_config(
        encoder={"name": "test_conv", "d_input": 3, "d_model": 8, "kernel_size": 5}
    )
    module = SSLPretrainModule(config)
    encoder = module.get_encoder()
    assert isinstance(encoder, ConvEncoder)
    assert encoder.conv.kernel_size == (5,)
    loss, _ = module.compute_loss(torch.randn(2, 10, 3), torch.ones(2, 10, dtype=torch.bool))
    loss.backward()
    assert encoder.conv.weight.grad is not None


@pytest.mark.usefixtures("user_components")
def test_user_objective_is_selected_by_name(make_config: Any) -> None:
    module = SSLPretrainModule(make_config(ssl={"name": "test_mean_match", "scale": 2.0}))
    assert module.objective.forward is mean_match_forward
    assert module.scale == 2.0
    loss, metrics = module.compute_loss(torch.randn(2, 10, 3))
    assert set(metrics) == {"pred_norm"}
    assert loss.requires_grad


@pytest.mark.usefixtures("user_components")
def test_user_encoder_rejects_unknown_parameter() -> None:
    with pytest.raises(ValueError, match=r"'depth'.*accepted parameters: name, d_input, d_model"):
        build_encoder({"name": "test_conv", "d_input": 3, "depth": 2})


@pytest.mark.usefixtures("user_components")
def test_user_encoder_missing_parameter_is_named() -> None:
    with pytest.raises(ValueError, match=r"encoder 'test_conv' needs parameter\(s\) d_input"):
        build_encoder({"name": "test_conv"})


def test_registered_names_are_listed_and_unregister_removes() -> None:
    register_encoder("test_tmp")(ConvEncoder)
    try:
        assert "test_tmp" in encoder_names()
    finally:
        ENCODERS.unregister("test_tmp")
    assert "test_tmp" not in encoder_names()


def test_name_taken_is_an_error_unless_overwrite() -> None:
    other = type("OtherEncoder", (ConvEncoder,), {})
    with pytest.raises(ValueError, match=r"'transformer' is already registered.*overwrite=True"):
        register_encoder("transformer")(other)


USER_MODULE = """
from torch import nn
from spt.backbone import TimeSeriesTransformer
from spt.pretrain import register_encoder


@register_encoder("tmp_linear")
def linear_transformer(d_input, d_model=8, bias=True):
    encoder = TimeSeriesTransformer(d_input, dim=d_model, depth=1, heads=2, positions="sinusoidal")
    encoder.embed = nn.Linear(d_input, d_model, bias=bias)
    return encoder
"""


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A module of the user's, outside spt, that registers ``tmp_linear`` when imported."""
    (tmp_path / "tmp_user_encoders.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    ENCODERS.unregister("tmp_linear")
    sys.modules.pop("tmp_user_encoders", None)


def test_config_imports_register_user_components(make_config: Any, user_module: Path) -> None:
    config = make_config(encoder={"name": "tmp_linear", "d_input": 3, "d_model": 8, "bias": False})
    config["imports"] = ["tmp_user_encoders"]
    module = SSLPretrainModule(config)
    assert type(module.get_encoder()).__name__ == "TimeSeriesTransformer"
    assert module.get_encoder().embed.bias is None


def test_config_import_that_fails_is_named(make_config: Any) -> None:
    config = make_config()
    config["imports"] = "no_such_module_here"
    with pytest.raises(ValueError, match=r"imports: cannot import 'no_such_module_here'"):
        SSLPretrainModule(config)
