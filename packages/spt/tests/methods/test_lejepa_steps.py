"""Three LeJEPA steps through spt.Module equal the paper's listing written out by hand.

The reference follows the LeJEPA listing of Balestriero and LeCun (2025): embed the global
views and the local views (each resolution in one call), project every view (one call, so
the projector's batch norm sees the whole multi-view batch, as the authors' code), take the
mean of the global views' projections as the centre, the prediction term
``mean((centre - z_v)^2)`` over every view, and SIGReg, the Epps-Pulley statistic of the
projections on random unit directions averaged over directions and views, then
``(1 - lambda) * prediction + lambda * SIGReg`` and an optimizer step. One encoder, no
teacher, no stop-gradient.

SIGReg is written from its definition: ``N * integral |phi_N(t) - exp(-t^2/2)|^2
exp(-t^2/2) dt`` by the trapezoid rule on 17 knots of ``[-5, 5]``, with the empirical
characteristic function ``phi_N`` of the projections. The directions of step ``k`` are
standard normal draws of a generator seeded with ``(seed * 2654435761 + k) mod 2**32``,
normalised to unit columns (``spt.losses.SIGReg``'s documented seeding), so both runs use
the same ones.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt_module.testing import assert_same_weights, make_trainer

N, BATCH, GLOBAL, LOCAL, PATCH, DIM, PROJ = 24, 8, 8, 4, 4, 8, 6
STEPS = N // BATCH
N_GLOBAL, N_LOCAL = 2, 2
LAMBD, SLICES, SEED = 0.3, 16, 0
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-10}  # float64: the runs agree to ~1e-15


class MultiCrop(Dataset[list[dict[str, Any]]]):
    """Fixed views per sample: two global 8x8 and two local 4x4, float64."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.global_views = torch.randn(N, N_GLOBAL, 1, GLOBAL, GLOBAL, generator=gen)
        self.local_views = torch.randn(N, N_LOCAL, 1, LOCAL, LOCAL, generator=gen)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        views = [*self.global_views[i], *self.local_views[i]]
        return [{"image": v.double(), "label": i % 3} for v in views]


def _loader() -> DataLoader[Any]:
    return DataLoader(MultiCrop(), batch_size=BATCH, shuffle=False)


def _build() -> spt.Module:
    torch.manual_seed(0)
    vit = spt.backbone.VisionTransformer(GLOBAL, PATCH, in_channels=1, dim=DIM, depth=1, heads=2)
    module = spt.methods.lejepa(
        vit,
        DIM,
        hidden_dims=[16],
        proj_dim=PROJ,
        lambd=LAMBD,
        num_slices=SLICES,
        n_global_views=N_GLOBAL,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    return module.double()


def directions(dim: int, step: int) -> Tensor:
    """The (dim, SLICES) unit directions of ``step``."""
    gen = torch.Generator().manual_seed((SEED * 2654435761 + step) % 2**32)
    a = torch.randn(dim, SLICES, generator=gen, dtype=torch.float32).double()
    return a / a.norm(dim=0, keepdim=True)


def sigreg(z: Tensor, a: Tensor) -> Tensor:
    """Mean over directions of the Epps-Pulley statistic of ``z @ a`` against N(0, 1)."""
    t = torch.linspace(-5.0, 5.0, 17, dtype=torch.float64)
    x = z @ a  # (B, M) projections
    tx = x.unsqueeze(-1) * t  # (B, M, T)
    real, imag = tx.cos().mean(dim=0), tx.sin().mean(dim=0)  # phi_N(t) per direction
    gauss = torch.exp(-(t**2) / 2)
    integrand = ((real - gauss) ** 2 + imag**2) * gauss
    return (z.shape[0] * torch.trapezoid(integrand, t, dim=-1)).mean()


def lejepa_loss(
    backbone: nn.Module, projector: nn.Module, views: list[Tensor], step: int
) -> Tensor:
    g = backbone(torch.cat(views[:N_GLOBAL]))  # global views, one call
    a = backbone(torch.cat(views[N_GLOBAL:]))  # local views, one call
    z = projector(torch.cat([g, a])).view(len(views), -1, PROJ)  # (V, B, K)
    centre = z[:N_GLOBAL].mean(dim=0)
    prediction = ((centre - z) ** 2).mean()
    dirs = directions(PROJ, step)
    regulariser = torch.stack([sigreg(zv, dirs) for zv in z]).mean()
    return (1 - LAMBD) * prediction + LAMBD * regulariser


def lejepa_loop(backbone: nn.Module, projector: nn.Module, new_directions: bool = True) -> None:
    params = [*backbone.parameters(), *projector.parameters()]
    optimizer = torch.optim.SGD(params, **{k: v for k, v in OPTIM.items() if k != "type"})
    for step, batch in enumerate(_loader()):
        views = [view["image"] for view in batch]
        loss = lejepa_loss(backbone, projector, views, step if new_directions else 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_lejepa_steps_match_plain_loop() -> None:
    module = _build()
    backbone, projector = copy.deepcopy(module.backbone), copy.deepcopy(module.projector)
    initial = copy.deepcopy(backbone.state_dict())
    lejepa_loop(backbone, projector)

    make_trainer(max_epochs=1).fit(module, _loader())

    assert_same_weights(module.backbone, backbone, "backbone", **TOL)
    assert_same_weights(module.projector, projector, "projector", **TOL)
    moved = [k for k, v in initial.items() if not torch.equal(v, backbone.state_dict()[k])]
    assert moved  # the steps changed the weights: the comparison is not of initial values


def test_lejepa_draws_new_directions_at_every_step() -> None:
    """A reference that keeps the first step's directions ends elsewhere."""
    module = _build()
    backbone, projector = copy.deepcopy(module.backbone), copy.deepcopy(module.projector)
    lejepa_loop(backbone, projector, new_directions=False)
    make_trainer(max_epochs=1).fit(module, _loader())
    gap = max(
        (a - b).abs().max().item()
        for a, b in zip(module.projector.parameters(), projector.parameters(), strict=True)
    )
    assert gap > 1e-8


def test_embedding_is_the_backbone_features_of_the_global_views() -> None:
    module = _build().eval()
    batch = next(iter(_loader()))
    out = module.forward(batch, "validate")
    expected = module.backbone(torch.cat([view["image"] for view in batch[:N_GLOBAL]]))
    torch.testing.assert_close(out["embedding"], expected, **TOL)
    assert torch.isfinite(out["loss"])
    single = module.forward(batch[0], "validate")
    assert "loss" not in single
    assert single["embedding"].shape == (BATCH, DIM)
