"""``metrics=`` logged per stage, and the GPU-transform resolution order."""

from __future__ import annotations

import lightning as pl
import pytest
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from spt_module.testing import RandomDictDataset, make_dataloader, make_module, make_trainer


def accuracy_of(module, n):
    data = RandomDictDataset(n=n)
    with torch.no_grad():
        logits = module.head(module.backbone(data.x))
    return (logits.argmax(1) == data.label).float().mean().item()


def test_metrics_are_updated_from_outputs_and_logged_per_stage():
    module = make_module(metrics={"acc": MulticlassAccuracy(num_classes=3, average="micro")})
    trainer = make_trainer(max_epochs=2)
    loader = make_dataloader(n=16, batch_size=8)
    trainer.fit(module, loader, loader)
    metrics = trainer.callback_metrics
    assert {"train/acc", "val/acc"} <= set(metrics)
    # Validation runs after the last training step: it sees the final parameters.
    assert float(metrics["val/acc"]) == pytest.approx(accuracy_of(module, 16))
    (result,) = trainer.test(module, loader, verbose=False)
    assert result["test/acc"] == pytest.approx(accuracy_of(module, 16))


def test_per_stage_metrics_only_log_their_stage():
    module = make_module(metrics={"val": {"top1": MulticlassAccuracy(num_classes=3)}})
    trainer = make_trainer()
    loader = make_dataloader(n=8, batch_size=4)
    trainer.fit(module, loader, loader)
    assert "val/top1" in trainer.callback_metrics
    assert not any(k.startswith("train/") for k in trainer.callback_metrics)


def test_bad_metrics_are_rejected():
    with pytest.raises(TypeError, match=r"metrics\['acc'\] must be a torchmetrics.Metric"):
        make_module(metrics={"acc": "accuracy"})


class AddKey(nn.Module):
    """A transform that tags the batch; records the devices it was moved to."""

    def __init__(self, tag):
        super().__init__()
        self.tag = tag
        self.moves = []

    def to(self, *args, **kwargs):
        self.moves.append(args)
        return super().to(*args, **kwargs)

    def forward(self, batch):
        batch["seen_by"] = [*batch.get("seen_by", []), self.tag]
        return batch


class TagDataModule(pl.LightningDataModule):
    def __init__(self, gpu_transform, train_transform=None):
        super().__init__()
        self.gpu_transform = gpu_transform
        self.train_transform = train_transform

    def train_dataloader(self):
        loader = make_dataloader(n=8, batch_size=4)
        if self.train_transform is not None:
            loader.dataset.gpu_transform = self.train_transform
        return loader

    def val_dataloader(self):
        return make_dataloader(n=8, batch_size=4)


def tag_recording_forward(self, batch, stage):
    self.tags.append((stage, tuple(batch.get("seen_by", ()))))
    return {"loss": self.head(self.backbone(batch["x"])).sum()}


def run_with(datamodule):
    module = make_module(forward=tag_recording_forward)
    module.tags = []
    make_trainer(limit_val_batches=1).fit(module, datamodule=datamodule)
    return module.tags


def test_dataset_transform_wins_over_datamodule_transform():
    dataset_t, datamodule_t = AddKey("dataset"), AddKey("datamodule")
    tags = run_with(TagDataModule(datamodule_t, train_transform=dataset_t))
    assert [t for s, t in tags if s == "fit"] == [("dataset",), ("dataset",)]
    assert [t for s, t in tags if s == "validate"] == [("datamodule",)]
    assert len(dataset_t.moves) == 1  # moved to the device once, on first use


def test_datamodule_per_stage_dict():
    tags = run_with(TagDataModule({"train": AddKey("train"), "val": AddKey("val")}))
    assert [t for s, t in tags if s == "fit"] == [("train",), ("train",)]
    assert [t for s, t in tags if s == "validate"] == [("val",)]
    tags = run_with(TagDataModule({"val": AddKey("val")}))
    assert [t for s, t in tags if s == "fit"] == [(), ()]


def test_nothing_set_passes_the_batch_through_untouched():
    module = make_module()
    trainer = make_trainer(limit_train_batches=1)
    trainer.fit(module, make_dataloader(n=4, batch_size=4))
    batch = {"x": torch.zeros(2, 8)}
    assert module.on_after_batch_transfer(batch, 0) is batch
    assert module._gpu_transforms  # resolved once and cached as "nothing"


def test_gpu_transform_on_the_module_is_rejected():
    with pytest.raises(ValueError, match="gpu_transform on the Module is not supported"):
        make_module(gpu_transform=AddKey("module"))
    module = make_module()
    module.gpu_transform = AddKey("module")
    with pytest.raises(ValueError, match=r"dataset.gpu_transform = \.\.\."):
        make_trainer().fit(module, make_dataloader(n=4, batch_size=4))


def test_non_callable_transform_is_a_type_error():
    with pytest.raises(TypeError, match=r"datamodule\.gpu_transform\['train'\] must be callable"):
        run_with(TagDataModule({"train": 3}))
