"""``SSLPretrainModule(config)`` takes dict, dataclass and OmegaConf configs; bad input is named."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from spt.backbone import TimeSeriesTransformer
from spt.pretrain import SSLPretrainModule, timeseries_mae_forward


@dataclasses.dataclass
class EncoderSection:
    d_input: int
    d_model: int
    n_heads: int
    n_layers: int
    name: str = "transformer"


@dataclasses.dataclass
class MAESection:
    mask_ratio: float
    name: str = "mae"


@dataclasses.dataclass
class OptimizerSection:
    name: str = "sgd"
    lr: float = 0.05
    weight_decay: float = 1e-4
    momentum: float = 0.9


@dataclasses.dataclass
class PretrainConfig:
    encoder: EncoderSection
    ssl: MAESection
    optimizer: OptimizerSection
    scheduler: dict[str, Any] | None = None


def _check_built(module: SSLPretrainModule) -> None:
    assert isinstance(module.get_encoder(), TimeSeriesTransformer)
    assert module.objective.forward is timeseries_mae_forward
    loss, metrics = module.compute_loss(torch.randn(2, 8, 3), torch.ones(2, 8, dtype=torch.bool))
    assert loss.ndim == 0
    assert torch.isfinite(loss)
    assert set(metrics) == {"mse_visible", "hidden_fraction"}


def test_dict_config(make_config: Any) -> None:
    module = SSLPretrainModule(make_config())
    _check_built(module)
    assert module.get_encoder().embed_dim == 16
    assert module.mask_ratio == 0.3


def test_omegaconf_config_with_interpolation(make_config: Any) -> None:
    raw = make_config()
    raw["channels"] = 3
    raw["encoder"]["d_input"] = "${channels}"
    module = SSLPretrainModule(OmegaConf.create(raw))
    _check_built(module)
    assert module.get_encoder().n_channels == 3
    assert module.config["encoder"]["d_input"] == 3  # resolved, plain


def test_dataclass_config() -> None:
    config = PretrainConfig(
        encoder=EncoderSection(d_input=3, d_model=16, n_heads=2, n_layers=1),
        ssl=MAESection(mask_ratio=0.4),
        optimizer=OptimizerSection(),
        scheduler={"name": "step", "step_size": 2, "gamma": 0.5},
    )
    module = SSLPretrainModule(config)
    _check_built(module)
    assert module.mask_ratio == 0.4
    assert module.config["optimizer"] == {
        "name": "sgd",
        "lr": 0.05,
        "weight_decay": 1e-4,
        "momentum": 0.9,
    }


def test_config_is_saved_as_hyperparameters(make_config: Any) -> None:
    module = SSLPretrainModule(make_config())
    assert module.hparams["ssl"] == {"name": "mae", "mask_ratio": 0.3}


@pytest.mark.parametrize("section", ["encoder", "ssl", "optimizer"])
def test_missing_section_is_named(make_config: Any, section: str) -> None:
    config = make_config()
    del config[section]
    with pytest.raises(ValueError, match=rf"no '{section}' section"):
        SSLPretrainModule(config)


def test_section_without_name_is_named(make_config: Any) -> None:
    config = make_config()
    del config["ssl"]["name"]
    with pytest.raises(ValueError, match=r"section 'ssl' has no 'name'"):
        SSLPretrainModule(config)


def test_scheduler_section_is_optional(make_config: Any) -> None:
    module = SSLPretrainModule(make_config())
    module.configure_optimizers()
    assert module.optimizer_entries[0].scheduler is None


def test_unknown_encoder_lists_registered(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"encoder.name='lstm'.*registered: .*gru, transformer"):
        SSLPretrainModule(make_config(encoder={"name": "lstm", "d_input": 3}))


def test_unknown_objective_lists_registered(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"ssl.name='byol'.*contrastive, jepa, mae"):
        SSLPretrainModule(make_config(ssl={"name": "byol"}))


def test_unknown_encoder_parameter_names_it_and_accepted_ones(make_config: Any) -> None:
    config = make_config()
    config["encoder"]["hidden_size"] = 32
    with pytest.raises(ValueError, match=r"'hidden_size'.*accepted parameters: .*d_model.*n_heads"):
        SSLPretrainModule(config)


def test_unknown_objective_parameter_names_it(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"'temperature'.*accepted parameters: name, mask_ratio"):
        SSLPretrainModule(make_config(ssl={"name": "mae", "temperature": 0.1}))


def test_missing_d_input_says_to_set_it(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"encoder.d_input=None.*number of channels"):
        SSLPretrainModule(make_config(encoder={"name": "gru"}))


def test_bad_mask_ratio_is_named(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"ssl.mask_ratio=1.5"):
        SSLPretrainModule(make_config(ssl={"name": "mae", "mask_ratio": 1.5}))


def test_non_mapping_config_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"must be a dict, a dataclass or an OmegaConf"):
        SSLPretrainModule(["encoder"])
