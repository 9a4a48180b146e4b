"""Three SupCon steps through spt.Module equal three steps of a plain loop from the paper."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt_module.testing import make_trainer

SIZE, EMBED, STEPS, BATCH, VIEWS = 6, 8, 3, 8, 2
TEMPERATURE = 0.1
OPTIM = {"type": "SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}
# 4 classes over 24 samples, unevenly: class 3 has one sample in the whole run
LABELS = [0, 1, 2, 0, 1, 0, 3, 2, 0, 0, 1, 2, 1, 1, 0, 2, 2, 0, 1, 0, 2, 1, 0, 2]


class LabelledViews(Dataset[Any]):
    """Float64 images with labels, each sample ``n_views`` fixed noisy views."""

    def __init__(self, n_views: int = VIEWS, with_labels: bool = True) -> None:
        gen = torch.Generator().manual_seed(0)
        n = len(LABELS)
        images = torch.randn(n, 1, SIZE, SIZE, generator=gen, dtype=torch.float64)
        noise = 0.3 * torch.randn(n, n_views, 1, SIZE, SIZE, generator=gen, dtype=torch.float64)
        self.views = images[:, None] + noise
        self.n_views = n_views
        self.with_labels = with_labels

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        views: list[dict[str, Any]] = [{"image": self.views[i, v]} for v in range(self.n_views)]
        if self.with_labels:
            for view in views:
                view["label"] = LABELS[i]
        return views


def _backbone() -> nn.Module:
    return spt.backbone.SmallCNN(in_channels=1, width=2, embed_dim=EMBED)


def supcon_l_out(features: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Eq. 2 of Khosla et al. (2020) in matrix form; features (B, V, D) unit rows."""
    batch, n_views, _ = features.shape
    anchors = torch.cat(features.unbind(dim=1))  # (V*B, D), view-major
    row_labels = labels.repeat(n_views)
    logits = anchors @ anchors.T / temperature
    not_self = ~torch.eye(batch * n_views, dtype=torch.bool)
    positives = (row_labels[:, None] == row_labels[None, :]) & not_self
    log_denominator = torch.log((torch.exp(logits) * not_self).sum(dim=1, keepdim=True))
    log_prob = logits - log_denominator
    mean_log_prob_pos = (positives * log_prob).sum(dim=1) / positives.sum(dim=1)
    return -mean_log_prob_pos.mean()


def _plain_supcon(backbone: nn.Module, projector: nn.Module, loader: DataLoader[Any]) -> None:
    """The paper's training loop: both views in one batch, normalised projections, L_out."""
    optimizer = torch.optim.SGD(
        [*backbone.parameters(), *projector.parameters()],
        lr=OPTIM["lr"],
        momentum=OPTIM["momentum"],
        weight_decay=OPTIM["weight_decay"],
    )
    backbone.train()
    projector.train()
    for batch in loader:
        images = torch.cat([view["image"] for view in batch])  # (V*B, C, H, W)
        labels = batch[0]["label"]
        z = F.normalize(projector(backbone(images)), dim=1)
        features = torch.stack(z.chunk(len(batch)), dim=1)  # (B, V, D)
        loss = supcon_l_out(features, labels, TEMPERATURE)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("n_views", [2, 3])
def test_supcon_steps_match_plain_loop(n_views: int) -> None:
    torch.manual_seed(0)
    module = spt.methods.supcon(
        _backbone(),
        EMBED,
        hidden_dim=16,
        proj_dim=8,
        temperature=TEMPERATURE,
        optim={"optimizer": OPTIM, "scheduler": None},
    ).double()
    backbone = copy.deepcopy(module.backbone)
    projector = copy.deepcopy(module.projector)
    initial = copy.deepcopy(module.backbone.state_dict())

    loader = DataLoader(LabelledViews(n_views), batch_size=BATCH)
    make_trainer(max_steps=STEPS).fit(module, loader)
    _plain_supcon(backbone, projector, loader)

    for name, trained, plain in [
        ("backbone", module.backbone, backbone),
        ("projector", module.projector, projector),
    ]:
        ours = dict(trained.state_dict())  # parameters and batch-norm statistics
        for key, value in plain.state_dict().items():
            torch.testing.assert_close(ours[key], value, rtol=1e-8, atol=1e-8, msg=f"{name}.{key}")
    moved = [k for k, v in initial.items() if not torch.equal(v, module.backbone.state_dict()[k])]
    assert moved  # three steps changed the weights


def test_supcon_batch_without_labels_fails_at_the_first_step() -> None:
    module = spt.methods.supcon(_backbone(), EMBED, hidden_dim=16, proj_dim=8).double()
    loader = DataLoader(LabelledViews(with_labels=False), batch_size=BATCH)
    with pytest.raises(
        ValueError,
        match=r"supcon_forward: the training batch has no 'label' .*keys \[.*'image'\].*"
        r"FromTorchDataset",
    ):
        make_trainer(max_steps=1).fit(module, loader)


def test_supcon_forward_without_loss_names_the_builder() -> None:
    module = spt.Module(
        forward=spt.forward.supcon,
        backbone=_backbone(),
        projector=spt.backbone.MLP(EMBED, [8], 8),
    ).double()
    batch = next(iter(DataLoader(LabelledViews(), batch_size=BATCH)))
    with pytest.raises(
        AttributeError,
        match=r"supcon_forward: the module has no 'supcon_loss'.*spt\.methods\.supcon\(backbone",
    ):
        module(batch, "fit")


def test_supcon_evaluation_batches_give_embeddings_and_labels() -> None:
    module = spt.methods.supcon(_backbone(), EMBED, hidden_dim=16, proj_dim=8).double().eval()
    view = next(iter(DataLoader(LabelledViews(), batch_size=BATCH)))[0]
    out = module(view, "validate")
    assert set(out) == {"embedding", "label"}
    unlabelled = next(iter(DataLoader(LabelledViews(with_labels=False), batch_size=BATCH)))
    assert set(module(unlabelled, "predict")) == {"embedding"}
