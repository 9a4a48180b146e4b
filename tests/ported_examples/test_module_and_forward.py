"""A forward function and the components it reads, given to ``spt.Module`` by keyword."""

from __future__ import annotations

import torch
from torch import nn

import spt
from spt import forward


def resnet18_encoder() -> nn.Module:
    encoder = spt.backbone.from_torchvision("resnet18", low_resolution=True)
    encoder.fc = nn.Identity()  # (B, 3, 32, 32) -> (B, 512)
    return encoder


def projection_head() -> nn.Module:
    return nn.Sequential(
        nn.Linear(512, 2048), nn.BatchNorm1d(2048), nn.ReLU(), nn.Linear(2048, 256)
    )


def folded_simclr(self, batch, stage):
    """Views of one sample share ``sample_idx`` in a single dict batch; fold them apart."""
    batch["embedding"] = self.backbone(batch["image"])
    if self.training:
        projections = self.projector(batch["embedding"])
        first, second = spt.data.fold_views(projections, batch["sample_idx"])
        batch["loss"] = self.simclr_loss(first, second)
    return batch


def test_keyword_components_become_attributes_that_the_forward_reads():
    module = spt.Module(
        backbone=resnet18_encoder(),
        projector=projection_head(),
        forward=folded_simclr,
        simclr_loss=spt.losses.NTXEntLoss(temperature=0.1),
    )
    # two samples, each present twice, as a repeated-sampling loader yields them
    batch = {"image": torch.randn(4, 3, 32, 32), "sample_idx": torch.tensor([0, 1, 0, 1])}
    out = module.train()(batch, "fit")
    assert out["embedding"].shape == (4, 512)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    assert module.projector[0].weight.grad is not None


def per_view_simclr(self, batch, stage):
    """A list of view dicts in training, one dict in validation."""
    out = {}
    if isinstance(batch, list):
        features = [self.backbone(view["image"]) for view in batch]
        out["embedding"] = torch.cat(features)
        if self.training:
            first, second = (self.projector(f) for f in features)
            out["loss"] = self.simclr_loss(first, second)
    else:
        out["embedding"] = self.backbone(batch["image"])
    return out


def test_a_custom_forward_handles_view_lists_in_fit_and_dicts_in_validation():
    module = spt.Module(
        backbone=nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 512)),
        projector=nn.Linear(512, 128),
        forward=per_view_simclr,
        simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
    )
    views = [{"image": torch.randn(4, 3, 32, 32)} for _ in range(2)]
    out = module.train()(views, "fit")
    assert out["embedding"].shape == (8, 512)
    assert torch.isfinite(out["loss"])
    out = module.eval()({"image": torch.randn(4, 3, 32, 32)}, "validate")
    assert out["embedding"].shape == (4, 512)
    assert "loss" not in out


def test_the_built_in_simclr_forward_takes_an_optimizer_spec():
    module = spt.Module(
        backbone=resnet18_encoder(),
        projector=projection_head(),
        forward=forward.simclr,
        simclr_loss=spt.losses.NTXEntLoss(temperature=0.5),
        optim={
            "optimizer": {"type": "Adam", "lr": 0.001},
            "scheduler": {"type": "CosineAnnealingLR"},
            "interval": "epoch",
        },
    )
    assert module.optim["interval"] == "epoch"
    views = [{"image": torch.randn(4, 3, 32, 32)} for _ in range(2)]
    out = module.train()(views, "fit")
    assert torch.isfinite(out["loss"])
