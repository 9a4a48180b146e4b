"""``return spt_optim.configure_optimizers(self, {...})`` in a plain LightningModule."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import spt_optim

L = pytest.importorskip("lightning")

pytestmark = [
    pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no"),
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
]

BASE_LR = 0.2


class TinyModule(L.LightningModule):  # type: ignore[misc,name-defined]
    """Automatic optimization; records the lr at every optimizer step and epoch start."""

    def __init__(self, optim: Any, log_val_loss: bool = False) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.optim = optim
        self.log_val_loss = log_val_loss
        self.step_lrs: list[float] = []
        self.epoch_lrs: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.log_val_loss:
            self.log("val_loss", 1.0)  # never improves

    def on_train_epoch_start(self) -> None:
        self.epoch_lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        self.step_lrs.append(optimizer.param_groups[0]["lr"])

    def configure_optimizers(self) -> Any:
        return spt_optim.configure_optimizers(self, self.optim)


def _loader(n: int = 10) -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(n, 4, generator=generator), torch.randn(n, 1, generator=generator)
    )
    return DataLoader(data, batch_size=2)


def _fit(module: TinyModule, val: bool = False, **trainer_kwargs: Any) -> Any:
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1 if val else 0,
        **trainer_kwargs,
    )
    trainer.fit(module, _loader(), _loader() if val else None)
    return trainer


def test_cosine_length_comes_from_estimated_stepping_batches() -> None:
    # 5 batches per epoch accumulated by 2: ceil(5 / 2) = 3 steps per epoch, 6 in all.
    module = TinyModule({"optimizer": {"type": "SGD", "lr": BASE_LR}})
    trainer = _fit(module, max_epochs=2, accumulate_grad_batches=2)
    (config,) = trainer.lr_scheduler_configs
    assert trainer.estimated_stepping_batches == 6
    assert config.scheduler.T_max == 6
    assert (config.interval, config.frequency, config.name) == ("step", 1, "default")
    expected = [BASE_LR * (1 + math.cos(math.pi * k / 6)) / 2 for k in range(6)]
    assert module.step_lrs == pytest.approx(expected)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_max_steps_caps_the_schedule() -> None:
    module = TinyModule({"optimizer": {"type": "SGD", "lr": BASE_LR}, "scheduler": "LinearLR"})
    trainer = _fit(module, max_epochs=5, max_steps=4)
    assert trainer.estimated_stepping_batches == 4
    assert trainer.lr_scheduler_configs[0].scheduler.total_iters == 4
    # LinearLR's torch defaults: from 1/3 of the lr to the full lr over the run.
    expected = [BASE_LR * (1 / 3 + (2 / 3) * k / 4) for k in range(4)]
    assert module.step_lrs == pytest.approx(expected)


def test_epoch_interval_steps_once_per_epoch() -> None:
    optim = {
        "optimizer": {"type": "SGD", "lr": BASE_LR},
        "scheduler": {"type": "LinearLR", "start_factor": 1.0, "end_factor": 0.0},
        "interval": "epoch",
    }
    module = TinyModule(optim)
    trainer = _fit(module, max_epochs=3)
    assert trainer.lr_scheduler_configs[0].interval == "epoch"
    assert module.epoch_lrs == pytest.approx([BASE_LR * (1 - e / 3) for e in range(3)])
    assert len(set(module.step_lrs[:5])) == 1  # constant within the first epoch


def test_reduce_on_plateau_reads_val_loss_by_default() -> None:
    optim = {
        "optimizer": {"type": "SGD", "lr": BASE_LR},
        "scheduler": {"type": "ReduceLROnPlateau", "patience": 0, "factor": 0.5},
    }
    module = TinyModule(optim, log_val_loss=True)
    trainer = _fit(module, val=True, max_epochs=3)
    config = trainer.lr_scheduler_configs[0]
    assert (config.monitor, config.interval, config.reduce_on_plateau) == (
        "val_loss",
        "epoch",
        True,
    )
    # val_loss never improves: epoch 1 sets the best, epochs 2 and 3 each halve the lr.
    assert module.epoch_lrs == pytest.approx([BASE_LR, BASE_LR, BASE_LR / 2])
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(BASE_LR / 4)


def test_build_optimizers_reads_the_attached_trainer() -> None:
    module = TinyModule({"optimizer": "AdamW"})
    _fit(module, max_epochs=1, limit_train_batches=1)
    entries = spt_optim.build_optimizers(module, {"optimizer": "AdamW"})
    assert entries[0].parameter_names == ["layer.weight", "layer.bias"]
    assert isinstance(entries[0].scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert entries[0].scheduler.T_max == 1  # the attached trainer's length


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"frequency": 2}, "'frequency' is 2, but TinyModule uses Lightning's automatic"),
        ({"gradient_clip_val": 1.0}, r"per-optimizer clipping \(1\.0, None\) is ignored"),
    ],
)
def test_automatic_optimization_refuses_what_it_would_ignore(
    extra: dict[str, Any], message: str
) -> None:
    module = TinyModule({"optimizer": "SGD", **extra})
    with pytest.raises(ValueError, match=message) as info:
        _fit(module, max_epochs=1)
    assert "self.automatic_optimization = False" in str(info.value)
    module.automatic_optimization = False  # manual optimization takes both
    assert spt_optim.configure_optimizers(module, module.optim)["optimizer"] is not None
