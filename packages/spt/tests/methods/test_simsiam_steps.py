"""Three SimSiam steps through spt.Module equal three steps of the paper's pseudo-code."""

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

SIZE, EMBED, STEPS, BATCH = 6, 8, 3, 8
OPTIM = {"type": "SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}


class TwoViews(Dataset[Any]):
    """Float64 images, each sample two fixed noisy views (the augmentations, drawn once)."""

    def __init__(self, n: int = STEPS * BATCH) -> None:
        gen = torch.Generator().manual_seed(0)
        images = torch.randn(n, 1, SIZE, SIZE, generator=gen, dtype=torch.float64)
        noise = 0.3 * torch.randn(n, 2, 1, SIZE, SIZE, generator=gen, dtype=torch.float64)
        self.views = images[:, None] + noise  # (n, 2, 1, SIZE, SIZE)

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        return [{"image": self.views[i, v], "label": i % 3} for v in range(2)]


def _backbone() -> nn.Module:
    return spt.backbone.SmallCNN(in_channels=1, width=2, embed_dim=EMBED)


def d(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The paper's negative cosine similarity, with the stop-gradient inside."""
    z = z.detach()
    p = F.normalize(p, dim=1)
    z = F.normalize(z, dim=1)
    return -(p * z).sum(dim=1).mean()


def _plain_simsiam(f: nn.Module, h: nn.Module, loader: DataLoader[Any]) -> None:
    """Algorithm 1 of Chen and He (2021): f = projector(backbone), h = predictor."""
    optimizer = torch.optim.SGD(
        [*f.parameters(), *h.parameters()],
        lr=OPTIM["lr"],
        momentum=OPTIM["momentum"],
        weight_decay=OPTIM["weight_decay"],
    )
    f.train()
    h.train()
    for batch in loader:
        x1, x2 = batch[0]["image"], batch[1]["image"]
        z1, z2 = f(x1), f(x2)  # projections, n-by-d
        p1, p2 = h(z1), h(z2)  # predictions, n-by-d
        loss = d(p1, z2) / 2 + d(p2, z1) / 2  # the symmetric loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_simsiam_steps_match_plain_loop() -> None:
    torch.manual_seed(0)
    module = spt.methods.simsiam(
        _backbone(),
        EMBED,
        hidden_dim=16,
        proj_dim=16,
        pred_hidden_dim=4,
        optim={"optimizer": OPTIM, "scheduler": None},
    ).double()
    backbone = copy.deepcopy(module.backbone)
    projector = copy.deepcopy(module.projector)
    predictor = copy.deepcopy(module.predictor)
    initial = copy.deepcopy(module.backbone.state_dict())

    loader = DataLoader(TwoViews(), batch_size=BATCH)
    make_trainer(max_steps=STEPS).fit(module, loader)
    _plain_simsiam(nn.Sequential(backbone, projector), predictor, loader)

    for name, trained, plain in [
        ("backbone", module.backbone, backbone),
        ("projector", module.projector, projector),
        ("predictor", module.predictor, predictor),
    ]:
        ours = dict(trained.state_dict())  # parameters and batch-norm statistics
        for key, value in plain.state_dict().items():
            assert ours[key].dtype == value.dtype
            torch.testing.assert_close(ours[key], value, rtol=1e-8, atol=1e-8, msg=f"{name}.{key}")
    moved = [k for k, v in initial.items() if not torch.equal(v, module.backbone.state_dict()[k])]
    assert moved  # three steps changed the weights: the comparison is not of initial values


def test_simsiam_loss_needs_the_stop_gradient() -> None:
    """Without the detach the gradient differs: the step test can see a missing stop-gradient."""
    torch.manual_seed(0)
    module = spt.methods.simsiam(
        _backbone(), EMBED, hidden_dim=16, proj_dim=16, pred_hidden_dim=4
    ).double()
    batch = next(iter(DataLoader(TwoViews(), batch_size=BATCH)))
    params = list(module.backbone.parameters())
    ours = torch.autograd.grad(module(batch, "fit")["loss"], params)
    z1 = module.projector(module.backbone(batch[0]["image"]))
    z2 = module.projector(module.backbone(batch[1]["image"]))
    p1, p2 = module.predictor(z1), module.predictor(z2)
    no_stop = -(F.cosine_similarity(p1, z2).mean() + F.cosine_similarity(p2, z1).mean()) / 2
    without_detach = torch.autograd.grad(no_stop, params)
    assert not all(torch.allclose(a, b) for a, b in zip(ours, without_detach, strict=True))


def test_simsiam_forward_without_predictor_names_the_builder() -> None:
    module = spt.Module(
        forward=spt.forward.simsiam,
        backbone=_backbone().double(),
        projector=spt.backbone.MLP(EMBED, [8], 8),
        simsiam_loss=spt.losses.NegativeCosineSimilarity(),
    ).double()
    batch = next(iter(DataLoader(TwoViews(), batch_size=BATCH)))
    with pytest.raises(
        AttributeError,
        match=r"simsiam_forward: the module has no 'predictor'.*spt\.methods\.simsiam\(backbone",
    ):
        module(batch, "fit")


def test_simsiam_single_view_evaluation_batch_gives_embeddings_only() -> None:
    module = spt.methods.simsiam(
        _backbone(), EMBED, hidden_dim=16, proj_dim=16, pred_hidden_dim=4
    ).double()
    module.eval()
    view = next(iter(DataLoader(TwoViews(), batch_size=BATCH)))[0]
    out = module(view, "validate")
    assert set(out) == {"embedding", "label"}
    assert out["embedding"].shape == (BATCH, EMBED)
