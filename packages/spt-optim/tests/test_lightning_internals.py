"""``spt_optim._lightning`` against the installed Lightning: each function does what it says.

A test here fails when Lightning moves what one of these functions touches.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import spt_optim
from spt_optim import _lightning

L = pytest.importorskip("lightning")

pytestmark = [
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
    pytest.mark.filterwarnings("ignore:The '.*dataloader' does not have many workers"),
]


class PositionLoader(DataLoader):  # type: ignore[type-arg]
    """A stateful DataLoader (Lightning's ``_Stateful``): it resumes at the batch it reached."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.given = self.skip = 0

    def __iter__(self) -> Any:
        skip, self.skip = self.skip, 0
        self.given = skip
        for index, batch in enumerate(super().__iter__()):
            if index >= skip:
                self.given += 1
                yield batch

    def state_dict(self) -> dict[str, int]:
        return {"given": self.given}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.skip = state["given"]


def _loader(n: int = 12) -> PositionLoader:
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(n, 4, generator=generator), torch.arange(n))
    return PositionLoader(data, batch_size=2)


class Recorder(L.LightningModule):  # type: ignore[misc,name-defined]
    """Automatic optimization through spt_optim; records its batches and loader builds."""

    def __init__(self, in_configure: Any = None, scheduler: Any = "CosineAnnealingLR") -> None:
        super().__init__()
        self.optim = {"optimizer": {"type": "SGD", "lr": 0.1}, "scheduler": scheduler}
        torch.manual_seed(0)
        self.layer = nn.Linear(4, 1)
        self.in_configure = in_configure
        self.seen: list[int] = []
        self.loaders_built = 0
        self.facts: dict[str, Any] = {}

    def train_dataloader(self) -> PositionLoader:
        self.loaders_built += 1
        return _loader()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, index = batch
        self.seen += index.tolist()
        return self.layer(x).pow(2).mean()

    def configure_optimizers(self) -> Any:
        if self.in_configure is not None:
            self.in_configure(self)
        return spt_optim.configure_optimizers(self, self.optim)


def _trainer(tmp_path: Path | None = None, **kwargs: Any) -> Any:
    callbacks = []
    if tmp_path is not None:
        callbacks.append(
            L.pytorch.callbacks.ModelCheckpoint(
                dirpath=tmp_path, every_n_train_steps=4, save_top_k=-1, filename="{step}"
            )
        )
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=tmp_path is not None,
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def test_load_train_data_builds_the_loader_once_and_counts_limited_batches() -> None:
    def check(module: Any) -> None:
        trainer = module.trainer
        module.facts["before"] = trainer.train_dataloader
        module.facts["first"] = _lightning.load_train_data(trainer)
        module.facts["batches"] = trainer.num_training_batches
        module.facts["second"] = _lightning.load_train_data(trainer)

    module = Recorder(check)
    _trainer(max_epochs=1, limit_train_batches=4).fit(module)
    assert module.facts == {"before": None, "first": True, "batches": 4, "second": False}
    assert module.loaders_built == 1


def test_load_train_data_builds_nothing_without_training_batches() -> None:
    def check(module: Any) -> None:
        module.facts["built"] = _lightning.load_train_data(module.trainer)

    module = Recorder(check, scheduler=None)  # no batches: no schedule length
    _trainer(max_epochs=1, limit_train_batches=0).fit(module)
    assert module.facts == {"built": False}


def test_resumes_from_checkpoint_reads_the_fit_ckpt_path(tmp_path: Path) -> None:
    def check(module: Any) -> None:
        module.facts["resumes"] = _lightning.resumes_from_checkpoint(module.trainer)

    first = Recorder(check)
    _trainer(tmp_path, max_epochs=1).fit(first)
    assert first.facts == {"resumes": False}
    resumed = Recorder(check)
    _trainer(max_epochs=2).fit(resumed, ckpt_path=str(tmp_path / "step=4.ckpt"))
    assert resumed.facts == {"resumes": True}


def test_reset_train_loader_makes_lightning_build_the_loader_again() -> None:
    def check(module: Any) -> None:
        trainer = module.trainer
        _lightning.load_train_data(trainer)
        _lightning.reset_train_loader(trainer)
        module.facts["after_reset"] = trainer.train_dataloader

    module = Recorder(check)
    _trainer(max_epochs=1).fit(module)
    assert module.facts == {"after_reset": None}
    assert module.loaders_built == 2
    assert module.seen == list(range(12))  # the loader built again trains the epoch


def _resume_mid_epoch(tmp_path: Path) -> tuple[Recorder, Recorder]:
    full = Recorder()
    _trainer(tmp_path, max_epochs=2).fit(full)
    resumed = Recorder()
    _trainer(max_epochs=2).fit(resumed, ckpt_path=str(tmp_path / "step=4.ckpt"))
    return full, resumed


def test_configure_optimizers_resumes_a_stateful_loader_at_its_position(tmp_path: Path) -> None:
    # The schedule length builds the loader before the checkpoint is restored; the loader
    # built again after the restore starts at batch 5 of the first epoch (sample 8).
    full, resumed = _resume_mid_epoch(tmp_path)
    assert resumed.seen == full.seen[8:]
    for p, q in zip(full.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=0, rtol=0)


def test_without_the_reset_lightning_restarts_the_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Why reset_train_loader exists: Lightning hands the saved position only to a loader
    # it builds after the restore. The loader built early starts again at sample 0 while
    # Lightning finishes the interrupted epoch from its batch 5.
    monkeypatch.setattr(_lightning, "reset_train_loader", lambda trainer: None)
    full, resumed = _resume_mid_epoch(tmp_path)
    assert full.seen[8:12] == [8, 9, 10, 11]
    assert resumed.seen[:4] == [0, 1, 2, 3]


def test_reset_train_loader_fails_loudly_when_lightning_moves_the_loader() -> None:
    trainer = SimpleNamespace(fit_loop=SimpleNamespace())
    with pytest.raises(AttributeError, match=r"has no '_combined_loader'.*must be updated"):
        _lightning.reset_train_loader(trainer)
