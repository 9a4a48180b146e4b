"""``examples/timeseries_mae.yaml``: composed with Hydra, built from ``_target_``s, fitted."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as pl
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from spt.backbone import TimeSeriesTransformer
from spt.backbone.gru import TimeSeriesGRU
from spt.callbacks import OnlineProbe
from spt.pretrain import (
    LinearProbeEvaluation,
    SSLPretrainModule,
    timeseries_contrastive_forward,
    timeseries_mae_forward,
)

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "examples" / "timeseries_mae.yaml"
TINY = [
    "trainer.max_epochs=1",
    "series.n_train=64",
    "series.n_val=32",
    "series.max_length=16",
    "series.batch_size=16",
    "encoder.d_model=16",
]
TINY_TRANSFORMER = [*TINY, "encoder.n_heads=2", "encoder.n_layers=1", "encoder.d_ff=32"]


@pytest.fixture
def compose_example() -> Iterator[Any]:
    def run(overrides: list[str]) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(EXAMPLE.parent), version_base="1.3"):
            return compose(config_name=EXAMPLE.stem, overrides=overrides)

    yield run
    GlobalHydra.instance().clear()


def test_default_composition(compose_example: Any) -> None:
    cfg = compose_example([])
    module = instantiate(cfg.module, _convert_="all")
    assert isinstance(module, SSLPretrainModule)
    assert isinstance(module.get_encoder(), TimeSeriesTransformer)
    assert module.objective.forward is timeseries_mae_forward
    assert module.get_encoder().n_channels == cfg.series.n_channels
    assert module.config["scheduler"]["name"] == "warmup_cosine"
    assert module.config["scheduler"]["max_epochs"] == cfg.trainer.max_epochs


def test_config_group_and_key_overrides(compose_example: Any) -> None:
    cfg = compose_example(["encoder=gru", "ssl=contrastive", "ssl.mask_ratio=0.3"])
    module = instantiate(cfg.module, _convert_="all")
    assert isinstance(module.get_encoder(), TimeSeriesGRU)
    assert module.objective.forward is timeseries_contrastive_forward
    assert module.mask_ratio == 0.3


def test_example_fits_and_probes(compose_example: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = compose_example([*TINY_TRANSFORMER, "+trainer.logger=false"])
    pl.seed_everything(int(cfg.manager.seed))
    module = instantiate(cfg.module, _convert_="all")
    data = instantiate(cfg.data, _convert_="all")
    callbacks = list(instantiate(cfg.callbacks, _convert_="all").values())
    trainer = instantiate(cfg.trainer, callbacks=callbacks, enable_progress_bar=False)
    trainer.fit(module, datamodule=data)
    (probe,) = [c for c in callbacks if isinstance(c, LinearProbeEvaluation)]
    assert 0.0 <= probe.results["pretrained_acc"] <= 1.0
    assert 0.0 <= probe.results["random_init_acc"] <= 1.0
    assert (
        float(trainer.callback_metrics["probe/pretrained_acc"]) == probe.results["pretrained_acc"]
    )
    assert "random init" in capsys.readouterr().out
    assert trainer.global_step == 4  # 64 series / 16 per batch
    (online,) = [c for c in callbacks if isinstance(c, OnlineProbe)]
    assert (online.input, online.target) == ("embedding", "label")
    assert online.probe[-1].in_features == cfg.encoder.d_model
    assert 0.0 <= float(trainer.callback_metrics["online_probe/val/top1"]) <= 1.0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("uv") is None, reason="needs the uv command")
def test_spt_command_runs_the_example(tmp_path: Path) -> None:
    command = [
        "uv",
        "run",
        "--no-sync",
        "spt",
        str(EXAMPLE),
        *TINY,
        "encoder=gru",
        "ssl=jepa",
        f"hydra.run.dir={tmp_path}",
        "+trainer.enable_progress_bar=false",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "probe/pretrained_acc" in done.stdout
    assert "online_probe/val/top1" in done.stdout
    assert "random init" in done.stdout
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_user_encoder_config_group_beside_the_yaml(tmp_path: Path) -> None:
    """The docs' "adding an encoder": a YAML in encoder/ beside the config, ``encoder=<name>``."""
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    (tmp_path / "encoder").mkdir()
    (tmp_path / "encoder" / "small_gru.yaml").write_text(
        "name: gru\nd_model: 12\nbidirectional: false\n"
    )
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
            cfg = compose(config_name=EXAMPLE.stem, overrides=["encoder=small_gru"])
    finally:
        GlobalHydra.instance().clear()
    module = instantiate(cfg.module, _convert_="all")
    encoder = module.get_encoder()
    assert isinstance(encoder, TimeSeriesGRU)
    assert encoder.embed_dim == 12
    assert encoder.n_channels == cfg.series.n_channels
