"""``SSLPretrainModule`` on a real Trainer: steps, logged keys, falling losses, saved encoders."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lightning as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger

from spt.pretrain import SSLPretrainModule, build_encoder, load_encoder
from spt_module import Module
from spt_module.testing import make_trainer


def _eval_loss(module: SSLPretrainModule, batch: dict[str, Any]) -> float:
    """The objective's loss on ``batch`` with a fixed draw of masks and augmentations."""
    module.eval()
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(1234)
        losses = [module.compute_loss(batch["timeseries"], batch["mask"])[0] for _ in range(4)]
    module.train()
    return float(torch.stack(losses).mean())


def _logged_columns(log_dir: Path) -> set[str]:
    (metrics_file,) = log_dir.rglob("metrics.csv")
    with metrics_file.open() as f:
        rows = list(csv.DictReader(f))
    return {key for row in rows for key, value in row.items() if value not in ("", None)}


def test_is_an_spt_module(make_config: Any) -> None:
    module = SSLPretrainModule(make_config())
    assert isinstance(module, Module)
    assert module.automatic_optimization is False


def test_compute_loss_takes_timeseries_and_mask(make_config: Any, batch: dict[str, Any]) -> None:
    module = SSLPretrainModule(make_config())
    loss, metrics = module.compute_loss(batch["timeseries"], batch["mask"])
    assert loss.ndim == 0
    assert loss.requires_grad
    assert set(metrics) == {"mse_visible", "hidden_fraction"}
    loss_all_observed, _ = module.compute_loss(batch["timeseries"])  # every step observed
    assert loss_all_observed.ndim == 0


def test_forward_is_the_standard_batch_and_stage(make_config: Any, batch: dict[str, Any]) -> None:
    module = SSLPretrainModule(make_config())
    out = module(batch, "validate")
    assert set(out) == {"loss", "mse_visible", "hidden_fraction", "embedding", "label"}
    predicted = module(batch, "predict")
    assert set(predicted) == {"embedding", "label"}
    assert predicted["embedding"].shape == (8, 16)


def test_batch_without_timeseries_is_a_clear_error(make_config: Any) -> None:
    module = SSLPretrainModule(make_config())
    with pytest.raises(
        ValueError, match=r"batch must be a dict with 'timeseries'.*keys \['image'\]"
    ):
        module({"image": torch.zeros(1)}, "validate")


class _RecordOutputs(pl.Callback):
    def __init__(self) -> None:
        self.train: list[dict[str, Any]] = []
        self.val: list[dict[str, Any]] = []

    def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, *args: Any) -> None:
        self.train.append(outputs)

    def on_validation_batch_end(self, trainer: Any, module: Any, outputs: Any, *args: Any) -> None:
        self.val.append(outputs)


def test_training_and_validation_steps_return_dicts(
    make_config: Any, loaders: tuple[Any, Any]
) -> None:
    module = SSLPretrainModule(make_config())
    record = _RecordOutputs()
    trainer = make_trainer(max_epochs=1, limit_train_batches=2, callbacks=[record])
    trainer.fit(module, *loaders)
    assert len(record.train) == 2
    assert len(record.val) == 1
    for out in record.train + record.val:
        assert set(out) == {"loss", "mse_visible", "hidden_fraction", "embedding", "label"}
        assert out["loss"].ndim == 0
        assert out["label"].shape == (16,)
        assert out["embedding"].shape == (16, 16)
        assert not out["embedding"].requires_grad
    assert trainer.global_step == 2  # one optimizer step per training batch


@pytest.mark.parametrize("ssl", ["mae", "contrastive", "jepa"])
def test_fit_embedding_is_the_eval_mode_pooled_features_and_draws_no_random_numbers(
    make_config: Any, batch: dict[str, Any], ssl: str
) -> None:
    encoder = {**make_config()["encoder"], "dropout": 0.5}  # dropout would draw numbers
    module = SSLPretrainModule(make_config(ssl=ssl, encoder=encoder))
    module.train()
    torch.manual_seed(7)
    objective_only = module.objective.forward(module, batch, "fit")
    after_objective = torch.random.get_rng_state()
    torch.manual_seed(7)
    out = module(batch, "fit")
    assert torch.equal(torch.random.get_rng_state(), after_objective)
    for key, value in objective_only.items():  # the objective's keys keep their values
        torch.testing.assert_close(out[key], value)
    assert module.get_encoder().training  # its mode is restored
    module.eval()
    torch.testing.assert_close(out["embedding"], module.embed(batch["timeseries"], batch["mask"]))


@pytest.mark.parametrize("ssl", ["mae", "contrastive", "jepa"])
def test_loss_decreases_on_a_small_run(
    make_config: Any, loaders: tuple[Any, Any], batch: dict[str, Any], ssl: str
) -> None:
    torch.manual_seed(0)
    module = SSLPretrainModule(make_config(ssl=ssl))
    before = _eval_loss(module, batch)
    trainer = make_trainer(max_epochs=6, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=loaders[0])
    after = _eval_loss(module, batch)
    assert after < 0.9 * before, (before, after)


def test_gru_encoder_trains(
    make_config: Any, loaders: tuple[Any, Any], batch: dict[str, Any]
) -> None:
    torch.manual_seed(0)
    module = SSLPretrainModule(make_config(encoder="gru"))
    before = _eval_loss(module, batch)
    make_trainer(max_epochs=6, limit_val_batches=0).fit(module, train_dataloaders=loaders[0])
    assert _eval_loss(module, batch) < 0.9 * before


def test_logged_keys(make_config: Any, loaders: tuple[Any, Any], tmp_path: Path) -> None:
    config = make_config(scheduler={"name": "cosine", "eta_min": 0.0})
    module = SSLPretrainModule(config)
    trainer = make_trainer(
        max_epochs=2, logger=CSVLogger(tmp_path, name="run"), log_every_n_steps=1
    )
    trainer.fit(module, *loaders)
    columns = _logged_columns(tmp_path)
    expected = {
        "train/loss_step",
        "train/loss_epoch",
        "val/loss",
        "train/mse_visible",
        "train/hidden_fraction",
        "val/mse_visible",
        "val/hidden_fraction",
        "train/lr",
        "hparams/lr_default",
    }
    assert expected <= columns, expected - columns
    assert "train/loss" in trainer.callback_metrics  # the epoch value, for monitors


def test_learning_rate_logged_follows_the_schedule(
    make_config: Any, loaders: tuple[Any, Any], tmp_path: Path
) -> None:
    config = make_config(scheduler={"name": "step", "step_size": 1, "gamma": 0.5})
    module = SSLPretrainModule(config)
    trainer = make_trainer(
        max_epochs=2, logger=CSVLogger(tmp_path, name="run"), log_every_n_steps=1
    )
    trainer.fit(module, train_dataloaders=loaders[0])
    (metrics_file,) = tmp_path.rglob("metrics.csv")
    with metrics_file.open() as f:
        lrs = [float(row["train/lr"]) for row in csv.DictReader(f) if row.get("train/lr")]
    assert lrs[:4] == pytest.approx([3e-3] * 4)
    assert lrs[4:] == pytest.approx([1.5e-3] * 4)


def test_predict_returns_pooled_embeddings(make_config: Any, loaders: tuple[Any, Any]) -> None:
    module = SSLPretrainModule(make_config())
    outputs = make_trainer().predict(module, loaders[1])
    assert outputs is not None
    (out,) = outputs
    assert out["embedding"].shape == (16, 16)
    assert out["label"].shape == (16,)


def test_get_encoder_is_the_trained_encoder(make_config: Any) -> None:
    module = SSLPretrainModule(make_config())
    encoder = module.get_encoder()
    assert encoder is module.encoder
    names = {n for n, _ in module.named_parameters()}
    assert {f"encoder.{n}" for n, _ in encoder.named_parameters()} <= names


def test_get_encoder_of_jepa_is_the_student(make_config: Any) -> None:
    module = SSLPretrainModule(make_config(ssl="jepa"))
    assert module.get_encoder() is module.encoder.student


@pytest.mark.parametrize("ssl", ["mae", "jepa"])
def test_save_encoder_round_trip(
    make_config: Any, loaders: tuple[Any, Any], tmp_path: Path, ssl: str
) -> None:
    config = make_config(ssl=ssl)
    module = SSLPretrainModule(config)
    make_trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(
        module, train_dataloaders=loaders[0]
    )
    path = module.save_encoder(tmp_path / "weights" / "encoder.pt")
    fresh = build_encoder(config["encoder"])
    state = torch.load(path, weights_only=True)
    assert set(state) == set(module.get_encoder().state_dict())  # the encoder only
    fresh.load_state_dict(state)
    x = torch.randn(3, 10, 3)
    observed = torch.ones(3, 10, dtype=torch.bool)
    observed[0, 6:] = False
    fresh.eval()
    trained = module.get_encoder().eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh.tokens(x, observed), trained.tokens(x, observed))
        torch.testing.assert_close(fresh(x, observed), trained(x, observed))
    loaded = load_encoder(path, config)  # the whole config or its encoder section
    for a, b in zip(loaded.state_dict().values(), fresh.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_saved_encoder_does_not_load_into_another_config(make_config: Any, tmp_path: Path) -> None:
    module = SSLPretrainModule(make_config())
    path = module.save_encoder(tmp_path / "encoder.pt")
    other = make_config()["encoder"] | {"d_model": 32, "d_ff": 64}
    with pytest.raises(RuntimeError, match=r"size mismatch"):
        load_encoder(path, other)
