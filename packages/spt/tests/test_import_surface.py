"""``import spt`` gives every name that code ported from stable-pretraining uses."""

from __future__ import annotations

import functools
import importlib
import subprocess
import sys

import pytest

# Every ``spt.<chain>`` that stable-pretraining's README and documentation examples use, and
# the names they import with ``from stable_pretraining[...] import ...`` (``forward.*``,
# ``transforms.*``).
PORTED_CHAINS = [
    "Manager",
    "Module",
    "backbone.from_torchvision",
    "callbacks.OnlineKNN",
    "callbacks.OnlineProbe",
    "data.DataModule",
    "data.FromTorchDataset",
    "data.HFDataset",
    "data.fold_views",
    "data.static.CIFAR10",
    "losses.NTXEntLoss",
    "forward.simclr_forward",
    "forward.supervised_forward",
    "forward.simclr",
    "forward.byol",
    "forward.vicreg",
    "forward.barlow_twins",
    "forward.dino",
    "forward.supervised",
    "forward.mae",
    "callbacks.TeacherStudentCallback",
    "backbone.TeacherStudentWrapper",
    "data.transforms.ColorJitter",
    "data.transforms.Compose",
    "data.transforms.MultiViewTransform",
    "data.transforms.RGB",
    "data.transforms.RandomGrayscale",
    "data.transforms.RandomHorizontalFlip",
    "data.transforms.RandomResizedCrop",
    "data.transforms.RandomSolarize",
    "data.transforms.Resize",
    "data.transforms.ToImage",
]

# The rest of the public surface: losses, methods, backbones and the EMA pair.
SURFACE_CHAINS = [
    "optim.build_optimizers",
    "optim.LARS",
    "losses.NegativeCosineSimilarity",
    "losses.VICRegLoss",
    "losses.BarlowTwinsLoss",
    "losses.DINOLoss",
    "losses.MAELoss",
    "callbacks.RankMe",
    "forward.byol_forward",
    "forward.vicreg_forward",
    "forward.barlow_twins_forward",
    "forward.dino_forward",
    "forward.mae_forward",
    "backbone.MLP",
    "backbone.vit_tiny",
    "backbone.vit_small",
    "backbone.TimeSeriesTransformer",
    "backbone.TimeSeriesGRU",
    "ema.TeacherStudent",
    "ema.cosine_momentum",
]


@pytest.mark.parametrize("chain", PORTED_CHAINS + SURFACE_CHAINS)
def test_attribute_chain_resolves(chain: str) -> None:
    import spt

    value = functools.reduce(getattr, chain.split("."), spt)
    assert value is not None


@pytest.mark.parametrize(
    ("alias", "member"),
    [
        ("optim", "spt_optim"),
        ("losses", "spt_losses"),
        ("data", "spt_data"),
        ("callbacks", "spt_callbacks"),
    ],
)
def test_alias_reexports_member_package(alias: str, member: str) -> None:
    alias_module = importlib.import_module(f"spt.{alias}")
    package = importlib.import_module(member)
    for name in package.__all__:
        assert getattr(alias_module, name) is getattr(package, name), name


def test_module_is_spt_module_module() -> None:
    import spt
    import spt_module

    assert spt.Module is spt_module.Module


def test_ported_import_lines_work() -> None:
    # ``from stable_pretraining import forward`` and ``from stable_pretraining.data import
    # transforms`` with the package renamed.
    namespace: dict[str, object] = {}
    exec("import spt\nfrom spt import forward\nfrom spt.data import transforms", namespace)
    assert callable(namespace["forward"].simclr_forward)  # type: ignore[attr-defined]
    assert namespace["transforms"] is importlib.import_module("spt_data.transforms")


def test_static_cifar10_has_mean_and_std() -> None:
    import spt

    stats = spt.data.static.CIFAR10
    assert set(stats) >= {"mean", "std"}
    assert len(stats["mean"]) == 3


def test_unknown_attribute_names_itself() -> None:
    import spt

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = spt.no_such_name


def test_import_spt_is_lazy() -> None:
    # ``import spt`` alone loads none of the member packages, lightning or torchvision.
    code = (
        "import sys, spt; heavy = [m for m in ('lightning', 'torchvision', 'spt_module', "
        "'spt_data', 'wandb', 'hydra') if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
