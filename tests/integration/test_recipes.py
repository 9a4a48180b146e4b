"""Every recipe of examples/{cifar10,cifar100,imagenet100}/ builds and trains two steps.

The data are stand-ins written once per module in the datasets' on-disk formats (CIFAR's
python pickle batches; an ImageFolder tree of JPEG and PNG files), so the real loading code
runs. Each config is composed by Hydra, every section is instantiated from it, and its own
Trainer runs two steps and one validation batch. What the stand-in cannot carry is shrunk by
overrides: batches of 4, one worker-less loader, ImageNet-100 crops of 32 px, one block per
transformer, at most 4,096 prototypes per head, one zero-shot prompt per class. One case per
YAML file found at collection time: a method's recipe is tested as soon as its file is there.
The CLIP recipes caption the stand-in's labels as the real data's and log their zero-shot
top-1. The real trainings are in benchmarks/REPRODUCE.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

import spt
from spt._hydra import compose_config, instantiate_section
from spt_data import DeviceLoader, ImageFolder
from spt_data.testing import write_cifar, write_image_folder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FOLDERS = ("cifar10", "cifar100", "imagenet100")
REPRODUCE = Path(__file__).resolve().parents[2] / "benchmarks" / "REPRODUCE.md"


def recipes(folder: str) -> list[Path]:
    """The recipe files of a folder: not the shared ``_*.yaml``, not the SLURM variants."""
    return sorted(
        p
        for p in (EXAMPLES / folder).glob("*.yaml")
        if not p.name.startswith("_") and not p.stem.endswith("_slurm")
    )


CONFIGS = [path for folder in FOLDERS for path in recipes(folder)]

SHORT_RUN = [
    "batch_size=4",
    "data.val.batch_size=4",
    "trainer.accelerator=cpu",
    "trainer.precision=32-true",
    "trainer.check_val_every_n_epoch=1",
    "trainer.log_every_n_steps=1",
    "+trainer.max_steps=2",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.logger=false",
    "+trainer.enable_checkpointing=false",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "callbacks.rankme.every_n_steps=2",
]
IMAGENET_STAND_IN = ["size=32", "val_resize=36", "blur_kernel=3", "num_workers=0"]
# The ImageNet stem (stride-4 entry) makes a ResNet 16x cheaper on 32x32 stand-ins; the CIFAR
# stem itself is checked once, below.
CIFAR_STAND_IN = ["resnet18.model.low_resolution=false"]
MAX_PROTOTYPES = 4096


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: on a shared 2-core machine a second one mostly spins."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Root folders of the three stand-in datasets, keyed by the recipe folder."""
    root = tmp_path_factory.mktemp("datasets")
    write_cifar(root / "cifar", "cifar10", per_batch=4, test_size=4)
    write_cifar(root / "cifar", "cifar100", per_batch=20, test_size=4)
    classes = ["n01440764", "n01443537", "n01484850"]
    write_image_folder(root / "imagenet100" / "train", classes, per_class=3, size=(40, 48))
    write_image_folder(root / "imagenet100" / "val", classes, per_class=2, size=(40, 48))
    return {
        "cifar10": root / "cifar",
        "cifar100": root / "cifar",
        "imagenet100": root / "imagenet100",
    }


def shrink_transformers(cfg: DictConfig) -> None:
    """One block per transformer of the module (ViT and text backbones, decoders, predictors)."""
    for name in ("backbone", "text_backbone"):
        backbone = cfg.module.get(name)
        if isinstance(backbone, DictConfig) and "depth" in backbone:
            backbone.depth = 1
    for key in list(cfg.module):
        if str(key).endswith("_depth"):
            cfg.module[key] = 1


def shrink_heads(cfg: DictConfig) -> None:
    """At most ``MAX_PROTOTYPES`` outputs per prototype head (DINOv2's 65,536 cost seconds)."""
    for key in ("out_dim", "patch_out_dim"):
        if key in cfg.module and cfg.module[key] > MAX_PROTOTYPES:
            cfg.module[key] = MAX_PROTOTYPES


def one_prompt_per_class(cfg: DictConfig) -> None:
    """The zero-shot callback's first template only (CLIP's 18 cost seconds a validation)."""
    zero_shot = cfg.callbacks.get("zero_shot")
    if isinstance(zero_shot, DictConfig):
        zero_shot.templates = list(zero_shot.templates)[:1]


def compose(config: Path, data_root: Path) -> DictConfig:
    overrides = [f"data_root={data_root}", *SHORT_RUN]
    overrides += IMAGENET_STAND_IN if config.parent.name == "imagenet100" else CIFAR_STAND_IN
    cfg = compose_config(config, overrides)
    shrink_transformers(cfg)
    shrink_heads(cfg)
    one_prompt_per_class(cfg)
    return cfg


def build(cfg: DictConfig, config: Path) -> dict[str, Any]:
    return {
        key: instantiate_section(cfg, key, config)
        for key in ("module", "data", "callbacks", "trainer")
    }


def test_every_method_has_a_recipe_for_each_dataset() -> None:
    methods = {name for name in spt.methods.__all__ if name.islower()}  # the builders
    assert {"simclr", "dinov2", "clip"} <= methods
    for folder in FOLDERS:
        assert methods <= {path.stem for path in recipes(folder)}, folder


@pytest.mark.parametrize("config", CONFIGS, ids=[f"{p.parent.name}/{p.stem}" for p in CONFIGS])
def test_recipe_header_cites_its_source_and_the_published_number(config: Path) -> None:
    header = config.read_text().split("\n\n")[0]
    assert re.search(r"^# Recipe: \S", header, re.MULTILINE), "no '# Recipe: <source>' line"
    assert re.search(r"^# Published: \S", header, re.MULTILINE), "no '# Published: ...' line"
    row = f"`examples/{config.parent.name}/{config.name}`"
    assert row in REPRODUCE.read_text(), f"benchmarks/REPRODUCE.md has no row for {row}"


@pytest.mark.parametrize("config", CONFIGS, ids=[f"{p.parent.name}/{p.stem}" for p in CONFIGS])
def test_recipe_trains_two_steps_on_a_stand_in_of_the_dataset(
    config: Path, stand_ins: dict[str, Path]
) -> None:
    torch.manual_seed(0)
    folder = config.parent.name
    cfg = compose(config, stand_ins[folder])
    built = build(cfg, config)
    module, data, trainer = built["module"], built["data"], built["trainer"]
    train_loader = data.train_dataloader()
    if folder == "imagenet100":
        assert isinstance(train_loader.dataset, ImageFolder)
    else:  # the dataset is held as uint8 tensors; the GPU recipe makes the views
        assert isinstance(train_loader, DeviceLoader)
        assert train_loader.data["image"].dtype == torch.uint8
        assert data.gpu_transform["train"] is not None
    trainer.callbacks.extend(built["callbacks"].values())
    trainer.fit(module, datamodule=data)
    assert trainer.global_step == 2
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert math.isfinite(metrics["train/loss"]), metrics
    assert {"linear_probe/val/top1", "knn/val/top1"} <= set(metrics), sorted(metrics)
    if "zero_shot" in built["callbacks"]:  # CLIP: the class prompts scored the validation batch
        assert "zero_shot/val/top1" in metrics, sorted(metrics)


def test_cifar_resnet_recipes_use_the_low_resolution_stem() -> None:
    config = EXAMPLES / "cifar10" / "simclr.yaml"
    module = instantiate_section(compose_config(config), "module", config)
    assert module.backbone.conv1.weight.shape == (64, 3, 3, 3)
    assert OmegaConf.select(compose_config(config), "module.optim.optimizer.type") == "LARS"
