"""DataModule: hands the given DataLoaders to Lightning; gpu_transform is checked and stored."""

import lightning as L
import pytest
import torch
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import nn
from torch.utils.data import DataLoader

from spt_data import DataModule, DictDataset


def loader(n=8):
    ds = DictDataset({"x": torch.randn(n, 4), "label": [i % 2 for i in range(n)]})
    return DataLoader(ds, batch_size=4)


def test_dataloader_hooks_return_the_given_loaders():
    train, val, test, predict = loader(), loader(), loader(), loader()
    data = DataModule(train=train, val=val, test=test, predict=predict)
    assert data.train_dataloader() is train
    assert data.val_dataloader() is val
    assert data.test_dataloader() is test
    assert data.predict_dataloader() is predict


def test_missing_stages_are_undefined_for_lightning():
    data = DataModule(train=loader())
    assert is_overridden("train_dataloader", data)
    assert not is_overridden("val_dataloader", data)
    assert not is_overridden("test_dataloader", data)
    with pytest.raises(Exception, match="must be implemented"):
        data.val_dataloader()


class TinyModule(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 2)
        self.val_batches = 0

    def training_step(self, batch, batch_idx):
        return nn.functional.cross_entropy(self.layer(batch["x"]), batch["label"])

    def validation_step(self, batch, batch_idx):
        self.val_batches += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def make_trainer():
    return L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def test_fit_runs_with_train_only_and_with_validation():
    module = TinyModule()
    make_trainer().fit(module, datamodule=DataModule(train=loader()))
    assert module.val_batches == 0
    module = TinyModule()
    make_trainer().fit(module, datamodule=DataModule(train=loader(), val=loader(8)))
    assert module.val_batches == 2  # 8 samples in batches of 4, no sanity check


def test_non_dataloader_is_rejected_with_the_fix():
    with pytest.raises(TypeError, match=r"val must be a torch.utils.data.DataLoader.*DataLoader\("):
        DataModule(val=DictDataset({"x": [1, 2]}))


def test_gpu_transform_callable_or_per_stage_dict_is_stored():
    def flip(batch):
        return batch

    assert DataModule(gpu_transform=flip).gpu_transform is flip
    per_stage = {"train": flip, "val": None}
    assert DataModule(gpu_transform=per_stage).gpu_transform == per_stage
    assert DataModule().gpu_transform is None


@pytest.mark.parametrize(
    ("gpu_transform", "error", "match"),
    [
        ({"fit": print}, ValueError, r"unknown stage\(s\) \['fit'\]"),
        ({"train": 3}, TypeError, r"gpu_transform\['train'\] must be callable"),
        (5, TypeError, "callable or a dict per stage"),
    ],
)
def test_bad_gpu_transform_is_rejected(gpu_transform, error, match):
    with pytest.raises(error, match=match):
        DataModule(gpu_transform=gpu_transform)
