"""Construction, forward, batches, stages and errors of the Module."""

from __future__ import annotations

import functools
import json
import types

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spt_module import Module
from spt_module.testing import (
    RandomDictDataset,
    classification_forward,
    make_dataloader,
    make_module,
    make_trainer,
)


def test_components_become_attributes_and_submodules():
    backbone, head = nn.Linear(8, 16), nn.Linear(16, 3)
    module = Module(forward=classification_forward, backbone=backbone, head=head, temperature=0.5)
    assert module.backbone is backbone
    assert module.head is head
    assert module.temperature == 0.5
    assert dict(module.named_children())["backbone"] is backbone
    names = {name for name, _ in module.named_parameters()}
    assert {"backbone.weight", "backbone.bias", "head.weight", "head.bias"} <= names


def test_no_forward_and_name_clash_are_errors():
    module = Module(backbone=nn.Linear(2, 2))  # allowed: built to show routing
    with pytest.raises(TypeError, match="no forward given"):
        module.forward({"x": torch.zeros(1, 2)}, "fit")
    with pytest.raises(TypeError, match="must be a function"):
        Module(forward=3)
    with pytest.raises(ValueError, match="'trainer' clashes"):
        Module(forward=classification_forward, trainer=nn.Linear(2, 2))


class SubclassModule(Module):
    def forward(self, batch, stage):
        out = classification_forward(self, batch, stage)
        out["stage"] = stage
        return out


def test_forward_by_argument_and_by_subclass_give_the_same_result():
    torch.manual_seed(0)
    by_argument = make_module()
    by_subclass = SubclassModule(backbone=by_argument.backbone, head=by_argument.head)
    batch = next(iter(make_dataloader(n=8, batch_size=8)))
    a = by_argument(dict(batch), "fit")
    b = by_subclass(dict(batch), "fit")
    torch.testing.assert_close(a["loss"], b["loss"])
    assert b["stage"] == "fit"


class StageRecorder(Module):
    def forward(self, batch, stage):
        self.calls.append((stage, batch["batch_idx"], self.training, torch.is_grad_enabled()))
        return classification_forward(self, batch, stage)


def test_stages_and_batch_idx_reach_forward():
    module = StageRecorder(
        backbone=nn.Linear(8, 16),
        head=nn.Linear(16, 3),
        optim={"optimizer": "SGD", "scheduler": None},
    )
    module.calls = []
    trainer = make_trainer(limit_val_batches=1)
    loader = make_dataloader(n=12, batch_size=4)
    trainer.fit(module, loader, loader)
    fit_calls = [c for c in module.calls if c[0] == "fit"]
    assert [c[1] for c in fit_calls] == [0, 1, 2]
    assert all(training and grad for _, _, training, grad in fit_calls)
    val_calls = [c for c in module.calls if c[0] == "validate"]
    assert val_calls
    assert all(not training and not grad for _, _, training, grad in val_calls)
    module.calls = []
    trainer.test(module, loader, verbose=False)
    predictions = trainer.predict(module, loader)
    assert [c[0] for c in module.calls] == ["test"] * 3 + ["predict"] * 3
    assert [c[1] for c in module.calls] == [0, 1, 2, 0, 1, 2]
    assert len(predictions) == 3
    assert predictions[0]["logits"].shape == (4, 3)


class TupleDataset(TensorDataset):
    pass


def test_non_dict_batch_is_a_value_error_that_says_what_arrived():
    data = RandomDictDataset(n=8)
    loader = DataLoader(TupleDataset(data.x, data.label), batch_size=4)
    with pytest.raises(
        ValueError, match=r"must be a dict.*got list of 2 \[Tensor of shape \(4, 8\)"
    ):
        make_trainer().fit(make_module(), loader)


def test_list_of_view_dicts_is_accepted():
    def two_view_forward(self, views, stage):
        assert isinstance(views, list)
        assert len(views) == 2
        assert all(view["batch_idx"] == views[0]["batch_idx"] for view in views)
        losses = [classification_forward(self, view, stage)["loss"] for view in views]
        return {"loss": sum(losses) / 2}

    class Views(torch.utils.data.Dataset):
        def __init__(self):
            self.data = RandomDictDataset(n=8)

        def __len__(self):
            return 8

        def __getitem__(self, i):
            return [self.data[i], self.data[(i + 1) % 8]]

    module = make_module(forward=two_view_forward)
    before = module.head.weight.detach().clone()
    trainer = make_trainer()
    trainer.fit(module, DataLoader(Views(), batch_size=4))
    assert trainer.global_step == 2
    assert not torch.equal(before, module.head.weight)


def test_missing_loss_names_the_keys_it_had():
    def no_loss(self, batch, stage):
        return {"embedding": self.backbone(batch["x"]), "label": batch["label"]}

    with pytest.raises(ValueError, match=r"without 'loss' \(keys: \['embedding', 'label'\]\)"):
        make_trainer().fit(make_module(forward=no_loss), make_dataloader(n=8, batch_size=4))


def test_optim_false_never_steps_and_has_no_optimizer():
    def no_loss(self, batch, stage):
        return {"embedding": self.backbone(batch["x"])}

    module = make_module(forward=no_loss, optim=False)
    before = [p.detach().clone() for p in module.parameters()]
    trainer = make_trainer()
    trainer.fit(module, make_dataloader(n=8, batch_size=4))
    assert module.optimizer_entries == []
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def test_hparams_are_saved():
    module = make_module(hparams={"lr": 0.1, "method": "simclr"})
    assert dict(module.hparams) == {"lr": 0.1, "method": "simclr"}


def test_loss_is_logged_per_step_and_per_validation_epoch():
    import lightning as L

    class Record(L.Callback):
        def __init__(self):
            self.train, self.val = [], []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.train.append(float(outputs["loss"]))

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.val.append(float(outputs["loss"]))

    record = Record()
    trainer = make_trainer(log_every_n_steps=1, callbacks=[record])
    trainer.fit(make_module(), make_dataloader(n=64), make_dataloader(n=32, seed=1))
    logged = trainer.callback_metrics
    assert float(logged["train/loss"]) == pytest.approx(record.train[-1], rel=1e-6)
    assert float(logged["val/loss"]) == pytest.approx(sum(record.val) / len(record.val), rel=1e-5)


def test_a_module_that_logs_its_own_loss_can_turn_the_automatic_one_off():
    class OwnLogging(Module):
        log_loss = False

    trainer = make_trainer(log_every_n_steps=1)
    module = OwnLogging(
        forward=classification_forward,
        backbone=nn.Linear(8, 16),
        head=nn.Linear(16, 3),
    )
    trainer.fit(module, make_dataloader(n=32), make_dataloader(n=16, seed=1))
    assert "train/loss" not in trainer.callback_metrics
    assert "val/loss" not in trainer.callback_metrics


def test_a_module_object_as_forward_suggests_its_forward_functions():
    methods = types.ModuleType("methods.byol")
    methods.byol_forward = classification_forward
    methods.other_forward = classification_forward
    methods.helper = classification_forward
    with pytest.raises(TypeError, match=r"got the module object 'methods\.byol'") as info:
        Module(forward=methods)
    message = str(info.value)
    assert "forward=methods.byol.byol_forward" in message
    assert "methods.byol.other_forward" in message
    assert "helper" not in message


def test_a_module_object_without_forward_functions_names_the_spt_functions():
    with pytest.raises(TypeError, match=r"module object 'json'; .*spt\.forward\.byol"):
        Module(forward=json)


def test_a_class_or_a_value_as_forward_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"got the class 'SubclassModule'; .*subclass Module"):
        Module(forward=SubclassModule)
    with pytest.raises(TypeError, match=r"got str 'simclr'; pass a function"):
        Module(forward="simclr")


def test_callable_objects_are_accepted_as_forward():
    module = Module(forward=functools.partial(classification_forward), backbone=nn.Linear(8, 16))
    assert module._forward_fn.func is classification_forward
