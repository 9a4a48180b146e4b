"""The ``optim`` spec of ``spt.Module``: LARS, probes kept apart, regex routes, frequencies."""

from __future__ import annotations

import copy
import warnings
from functools import partial

import torch
import torchmetrics
from torch import nn

import spt
from spt import forward
from spt_module.testing import make_dataloader, make_module, make_trainer
from spt_optim.testing import ROUTING_EXAMPLE_OPTIM

LENGTH = spt.optim.TrainingLength(max_epochs=10, batches_per_epoch=10)


def simclr_module(**optim_and_more):
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 512))
    head = nn.Sequential(nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 16))
    return spt.Module(
        backbone=encoder,
        projector=head,
        forward=forward.simclr_forward,
        simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
        **optim_and_more,
    )


def test_lars_and_cosine_by_name():
    module = simclr_module(
        optim={"optimizer": {"type": "LARS", "lr": 0.1}, "scheduler": {"type": "CosineAnnealingLR"}}
    )
    (entry,) = spt.optim.build_optimizers(module, module.optim, LENGTH)
    assert type(entry.optimizer).__name__ == "LARS"
    assert type(entry.scheduler).__name__ == "CosineAnnealingLR"


def test_an_online_probe_keeps_its_parameters_out_of_the_main_optimizer():
    module = simclr_module(
        optim={
            "optimizer": {"type": "LARS", "lr": 0.1, "weight_decay": 1e-6},
            "scheduler": {"type": "CosineAnnealingLR"},
        }
    )
    minimal = spt.callbacks.OnlineProbe(
        module, name="probe_a", probe=nn.Linear(512, 10), optimizer={"type": "Adam", "lr": 1e-3}
    )
    complete = spt.callbacks.OnlineProbe(
        module,
        name="probe_b",
        input="embedding",
        target="label",
        probe=nn.Linear(512, 10),
        loss_fn=nn.CrossEntropyLoss(),
        optimizer={"type": "Adam", "lr": 1e-3},
        metrics={"top1": torchmetrics.classification.MulticlassAccuracy(10)},
    )
    (entry,) = spt.optim.build_optimizers(module, module.optim, LENGTH)
    optimized = {id(p) for group in entry.optimizer.param_groups for p in group["params"]}
    for probe in (minimal, complete):
        probe_parameters = list(probe.probe.parameters())
        assert probe_parameters
        assert not any(id(p) in optimized for p in probe_parameters)
    assert type(entry.optimizer).__name__ == "LARS"


def test_regex_routes_give_backbone_and_projector_their_own_optimizers():
    module = simclr_module(
        optim={
            "backbone_opt": {
                "modules": "backbone.*",
                "optimizer": {"type": "SGD", "lr": 0.01},
                "scheduler": {"type": "StepLR", "step_size": 30},
            },
            "projector_opt": {
                "modules": "projector.*",
                "optimizer": {"type": "Adam", "lr": 0.1},
                "scheduler": {"type": "CosineAnnealingLR"},
            },
        }
    )
    entries = {e.name: e for e in spt.optim.build_optimizers(module, module.optim, LENGTH)}
    assert set(entries) == {"backbone_opt", "projector_opt"}
    assert len(entries["backbone_opt"].parameter_names) == len(list(module.backbone.parameters()))
    assert all(n.startswith("projector.") for n in entries["projector_opt"].parameter_names)
    assert type(entries["backbone_opt"].optimizer).__name__ == "SGD"


def test_a_partial_optimizer_with_a_named_scheduler_steps_once_per_batch():
    module = make_module()
    module.optim = {
        "optimizer": partial(torch.optim.AdamW, lr=1e-3),
        "scheduler": "CosineAnnealingLR",
        "interval": "step",
        "frequency": 1,
    }
    make_trainer(limit_train_batches=1).fit(module, make_dataloader(n=32, batch_size=8))
    (entry,) = module.optimizer_entries
    assert isinstance(entry.optimizer, torch.optim.AdamW)
    assert isinstance(entry.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert entry.scheduler.last_epoch == 1  # one training batch, one step


def classify_and_report_accuracy(self, batch, stage):
    logits = self.classifier_head(self.encoder(batch["x"]))
    if stage == "validate":  # what the plateau scheduler below monitors
        self.log("val_accuracy", (logits.argmax(1) == batch["label"]).float().mean())
    loss = nn.functional.cross_entropy(logits, batch["label"])
    return {"loss": loss, "logits": logits, "label": batch["label"]}


def test_two_routed_optimizers_with_their_own_interval_frequency_and_monitor():
    encoder = nn.Sequential()
    encoder.add_module("layer1", nn.Sequential())
    encoder.layer1.add_module("conv", nn.Linear(8, 16))
    classifier_head = nn.Sequential()
    classifier_head.add_module("linear", nn.Linear(16, 3))
    module = spt.Module(
        forward=classify_and_report_accuracy,
        encoder=encoder,
        classifier_head=classifier_head,
        decoder=nn.Linear(16, 8),  # no route matches it
    )
    module.optim = copy.deepcopy(ROUTING_EXAMPLE_OPTIM)  # the routing example of the docs
    head_before = module.classifier_head.linear.weight.detach().clone()
    encoder_before = module.encoder.layer1.conv.weight.detach().clone()
    with warnings.catch_warnings(record=True):  # the decoder's parameters warn: no route
        warnings.simplefilter("always")
        make_trainer(limit_train_batches=1, limit_val_batches=1).fit(
            module, make_dataloader(n=32, batch_size=8), make_dataloader(n=8, batch_size=8, seed=1)
        )
    entries = {e.name: e for e in module.optimizer_entries}
    assert set(entries) == {"encoder_opt", "head_opt"}
    assert entries["encoder_opt"].parameter_names == [
        "encoder.layer1.conv.weight",
        "encoder.layer1.conv.bias",
    ]
    assert sorted(entries["head_opt"].parameter_names) == [
        "classifier_head.linear.bias",
        "classifier_head.linear.weight",
    ]
    assert entries["encoder_opt"].scheduler.last_epoch == 1  # OneCycleLR: per optimizer step
    assert not torch.equal(module.encoder.layer1.conv.weight, encoder_before)
    assert torch.equal(module.classifier_head.linear.weight, head_before)  # frequency 2
    assert isinstance(entries["head_opt"].optimizer, torch.optim.SGD)
    assert entries["head_opt"].scheduler.last_epoch == 1  # one epoch, one plateau check
    assert module.decoder.weight.grad is None
