"""A user adds an encoder or an objective with a decorator, without editing spt's files."""

from __future__ import annotations

import dataclasses
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
    BaseEncoder,
    BaseSSLObjective,
    EncoderConfig,
    SSLConfig,
    SSLPretrainModule,
    build_encoder,
    encoder_names,
    objective_names,
    register_encoder,
    register_objective,
)


# Seed 003's "Adding a New Encoder", step 1: a config dataclass and an encoder class.
@dataclasses.dataclass
class ConvEncoderConfig(EncoderConfig):
    name: str = "test_conv"
    kernel_size: int = 3


class ConvEncoder(BaseEncoder):
    def __init__(self, config: ConvEncoderConfig) -> None:
        super().__init__(config)
        self.conv = nn.Conv1d(
            self.d_input, config.d_model, config.kernel_size, padding=config.kernel_size // 2
        )

    def forward(
        self, x: Tensor, mask: Tensor | None = None, padding_mask: Tensor | None = None
    ) -> Tensor:
        if mask is not None:
            x = x.masked_fill(mask.unsqueeze(-1), 0.0)
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


@dataclasses.dataclass
class MeanMatchConfig(SSLConfig):
    name: str = "test_mean_match"
    scale: float = 1.0


class MeanMatch(BaseSSLObjective):
    """Regress each series' channel means from the pooled latents."""

    def __init__(self, encoder: BaseEncoder, config: MeanMatchConfig) -> None:
        super().__init__(encoder, config)
        self.head = nn.Linear(encoder.output_dim, encoder.d_input)
        self.scale = config.scale

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        pred = self.head(self.encoder(x).mean(dim=1))
        loss = self.scale * (pred - x.mean(dim=1)).pow(2).mean()
        return loss, {"pred_norm": pred.detach().norm()}


@pytest.fixture
def user_components() -> Iterator[None]:
    # Step 2: register by name, from the user's own code.
    register_encoder("test_conv", ConvEncoderConfig)(ConvEncoder)
    register_objective("test_mean_match", MeanMatchConfig)(MeanMatch)
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
    loss, _ = module(torch.randn(2, 10, 3), torch.ones(2, 10, dtype=torch.bool))
    loss.backward()
    assert encoder.conv.weight.grad is not None


@pytest.mark.usefixtures("user_components")
def test_user_objective_is_selected_by_name(make_config: Any) -> None:
    module = SSLPretrainModule(make_config(ssl={"name": "test_mean_match", "scale": 2.0}))
    assert isinstance(module.objective, MeanMatch)
    loss, metrics = module(torch.randn(2, 10, 3))
    assert set(metrics) == {"pred_norm"}
    assert loss.requires_grad


@pytest.mark.usefixtures("user_components")
def test_user_encoder_rejects_unknown_parameter() -> None:
    with pytest.raises(ValueError, match=r"'depth'.*accepted parameters: name, d_input, d_model"):
        build_encoder({"name": "test_conv", "d_input": 3, "depth": 2})


def test_registered_names_are_listed_and_unregister_removes() -> None:
    register_encoder("test_tmp", ConvEncoderConfig)(ConvEncoder)
    try:
        assert "test_tmp" in encoder_names()
    finally:
        ENCODERS.unregister("test_tmp")
    assert "test_tmp" not in encoder_names()


def test_name_taken_is_an_error_unless_overwrite() -> None:
    other = type("OtherEncoder", (ConvEncoder,), {})
    with pytest.raises(ValueError, match=r"'transformer' is already registered.*overwrite=True"):
        register_encoder("transformer", ConvEncoderConfig)(other)


def test_config_class_must_be_a_dataclass() -> None:
    with pytest.raises(ValueError, match=r"config_cls must be a dataclass"):
        register_objective("test_bad", dict)


USER_MODULE = """
import dataclasses
from torch import nn
from spt.pretrain import BaseEncoder, EncoderConfig, register_encoder


@dataclasses.dataclass
class LinearEncoderConfig(EncoderConfig):
    name: str = "tmp_linear"
    bias: bool = True


@register_encoder("tmp_linear", LinearEncoderConfig)
class LinearEncoder(BaseEncoder):
    def __init__(self, config):
        super().__init__(config)
        self.proj = nn.Linear(self.d_input, config.d_model, bias=config.bias)

    def forward(self, x, mask=None, padding_mask=None):
        return self.proj(x)
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
    assert type(module.get_encoder()).__name__ == "LinearEncoder"
    assert module.get_encoder().proj.bias is None


def test_config_import_that_fails_is_named(make_config: Any) -> None:
    config = make_config()
    config["imports"] = "no_such_module_here"
    with pytest.raises(ValueError, match=r"imports: cannot import 'no_such_module_here'"):
        SSLPretrainModule(config)
