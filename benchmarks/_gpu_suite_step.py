"""Section 1 of the GPU suite: one SimCLR ResNet-18 step, from a raw loop to spt end to end.

Every variant trains the same components (ResNet-18, a 3-layer projector 512-2048-2048-128,
NT-Xent at temperature 0.5, SGD with momentum) on batches of ``B`` images and two views, under
bf16 autocast on a GPU:

- ``raw``: a hand-written loop over a DataLoader of pre-made float views (the reference);
- ``raw, views on device``: the same loop over pre-made views already on the device;
- ``LightningModule``: a plain LightningModule (automatic optimization) on the same DataLoader;
- ``spt.Module``: ``spt.Module(forward=spt.forward.simclr, ...)`` on the same DataLoader;
- ``spt.Module + 3 callbacks``: with OnlineProbe, OnlineKNN and RankMe (queues of 20,000);
- ``e2e uint8 DataLoader``: the last, fed uint8 images by a DataLoader, views made on the
  device by the BYOL recipe of ``spt_data.gpu`` (the DataModule's ``gpu_transform``);
- ``e2e DeviceLoader``: the same with the images held on the device (``spt_data.DeviceLoader``).

Each runs with each option set of the grid: eager, ``channels_last`` (weights and inputs in
NHWC), ``compile`` (``torch.compile`` of the backbone and the projector) and both. All of them
run in this one process, so the ratios compare like with like.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import lightning as pl
import torch
from _gpu_suite_sizes import Sizes, cnn_backbone
from _gpu_suite_timing import (
    StepTimer,
    autocast,
    lightning_precision,
    quiet_lightning,
    synchronize,
)
from torch import nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt_callbacks import OnlineKNN, OnlineProbe, RankMe
from spt_data import DataModule, DeviceLoader, DictDataset, recipes, static
from spt_data.gpu import uint8_loader
from spt_losses import NTXEntLoss

GRID = ("eager", "channels_last", "compile", "channels_last+compile")
LR, MOMENTUM = 0.01, 0.9
NUM_CLASSES = 10
VARIANTS = (
    "raw",
    "raw, views on device",
    "LightningModule",
    "spt.Module",
    "spt.Module + 3 callbacks",
    "e2e uint8 DataLoader + 3 callbacks",
    "e2e DeviceLoader + 3 callbacks",
)
TARGETS = (  # (name, numerator variant, denominator variant, threshold): throughput ratios
    ("spt.Module / raw", "spt.Module", "raw", 0.97),
    ("+3 callbacks / spt.Module", "spt.Module + 3 callbacks", "spt.Module", 0.95),
    ("e2e DeviceLoader + callbacks / raw", "e2e DeviceLoader + 3 callbacks", "raw", 1.0),
)


# ----------------------------------------------------------------------------- components
def components(sizes: Sizes) -> dict[str, nn.Module]:
    """Backbone, projector and loss, with the same initial weights for every variant."""
    torch.manual_seed(0)
    backbone, dim, _ = cnn_backbone(sizes)
    hidden_1, hidden_2, out = sizes.step_projector
    projector = spt.backbone.MLP(dim, [hidden_1, hidden_2], out)
    return {"backbone": backbone, "projector": projector, "simclr_loss": NTXEntLoss(0.5)}


def options(option: str) -> tuple[bool, bool]:
    """``(channels_last, compile)`` of one grid entry."""
    return "channels_last" in option, "compile" in option


def compile_parts(parts: dict[str, nn.Module], sizes: Sizes) -> None:
    """``nn.Module.compile`` of the backbone and the projector, in place."""
    for name in ("backbone", "projector"):
        parts[name].compile(backend=sizes.compile_backend)


def prepare(parts: dict[str, nn.Module], option: str, sizes: Sizes, device: torch.device) -> None:
    """Move to ``device``; NHWC weights and compilation as the option asks."""
    channels_last, compiled = options(option)
    for module in parts.values():
        module.to(device)
    if channels_last:
        parts["backbone"].to(memory_format=torch.channels_last)
    if compiled:
        compile_parts(parts, sizes)


def module_kwargs(option: str, sizes: Sizes) -> dict[str, Any]:
    """spt.Module's own ``compile`` / ``channels_last`` arguments, where it has them.

    In the dry run the compile goes through :func:`prepare` instead (dynamo's eager backend:
    the CPU would spend minutes generating code).
    """
    channels_last, compiled = options(option)
    accepted = inspect.signature(spt.Module.__init__).parameters
    kwargs: dict[str, Any] = {}
    if channels_last and "channels_last" in accepted:
        kwargs["channels_last"] = True
    if compiled and "compile" in accepted and not sizes.dry_run:
        kwargs["compile"] = ["backbone", "projector"]
    return kwargs


def views_recipe(sizes: Sizes) -> nn.Module:
    """The two views of BYOL's recipe at the step's image size, batched on the device.

    With ``spt.Module(channels_last=True)`` the Module asks it for NHWC output.
    """
    transform: nn.Module = recipes.byol(sizes.step_image, gpu=True, **static.CIFAR10)
    return transform


# ----------------------------------------------------------------------------- data
class PremadeViews(Dataset[list[dict[str, torch.Tensor]]]):
    """Two float views per sample, made once; ``length`` cycles through the stored rows."""

    def __init__(self, views: list[torch.Tensor], labels: torch.Tensor, length: int) -> None:
        self.views, self.labels, self.length = views, labels, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> list[dict[str, torch.Tensor]]:
        j = i % len(self.labels)
        return [{"image": v[j], "label": self.labels[j]} for v in self.views]


class Data:
    """The uint8 images, their pre-made views, and the loaders each variant reads."""

    def __init__(self, sizes: Sizes, device: torch.device) -> None:
        self.sizes, self.device = sizes, device
        gen = torch.Generator().manual_seed(0)
        side, n = sizes.step_image, sizes.step_dataset
        self.images = torch.randint(0, 256, (n, 3, side, side), generator=gen, dtype=torch.uint8)
        self.labels = torch.randint(0, NUM_CLASSES, (n,), generator=gen)
        self.steps = sizes.step_warmup + sizes.step_steps
        rows = min(n, 4 * sizes.step_batch)  # a few distinct batches, cycled
        with torch.no_grad():
            views = views_recipe(sizes).to(device)({"image": self.images[:rows].to(device)})
        self.views = [v["image"].float().cpu() for v in views]
        self.view_labels = self.labels[:rows]

    def premade_loader(self) -> DataLoader[Any]:
        workers = self.sizes.step_workers
        dataset = PremadeViews(self.views, self.view_labels, self.steps * self.sizes.step_batch)
        return DataLoader(
            dataset,
            batch_size=self.sizes.step_batch,
            drop_last=True,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
        )

    def premade_on_device(self) -> list[list[dict[str, torch.Tensor]]]:
        b = self.sizes.step_batch
        batches = []
        for start in range(0, len(self.view_labels) - b + 1, b):
            batches.append(
                [
                    {
                        "image": v[start : start + b].to(self.device),
                        "label": self.view_labels[start : start + b].to(self.device),
                    }
                    for v in self.views
                ]
            )
        return batches

    def uint8_loader(self) -> DataLoader[Any]:
        dataset = DictDataset({"image": self.images, "label": self.labels})
        return uint8_loader(dataset, self.sizes.step_batch, num_workers=self.sizes.step_workers)

    def device_loader(self) -> DeviceLoader:
        data = {"image": self.images, "label": self.labels}
        return DeviceLoader(data, self.sizes.step_batch, shuffle=True, drop_last=True)


# ----------------------------------------------------------------------------- variants
def simclr_loss(parts: dict[str, nn.Module], views: list[dict[str, Any]], nhwc: bool) -> Any:
    images = torch.cat([v["image"] for v in views])  # (2B, 3, H, W)
    if nhwc:
        images = images.contiguous(memory_format=torch.channels_last)
    z1, z2 = parts["projector"](parts["backbone"](images)).chunk(2)
    return parts["simclr_loss"](z1, z2)


def run_raw(
    sizes: Sizes, device: torch.device, option: str, batches: Any, to_device: bool
) -> float:
    parts = components(sizes)
    prepare(parts, option, sizes, device)
    nhwc = options(option)[0]
    params = [p for m in parts.values() for p in m.parameters()]
    optimizer = torch.optim.SGD(params, lr=LR, momentum=MOMENTUM)
    timer = StepTimer(device, sizes.step_warmup)
    steps = sizes.step_warmup + sizes.step_steps
    for idx in range(steps):
        views = batches[idx % len(batches)] if isinstance(batches, list) else next(batches)
        timer.on_train_batch_start(None, None, None, idx)
        if to_device:
            views = [{k: t.to(device, non_blocking=True) for k, t in v.items()} for v in views]
        with autocast(device):
            loss = simclr_loss(parts, views, nhwc)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        timer.on_train_batch_end(None, None, None, None, idx)
    synchronize(device)
    return timer.seconds_per_step()


class PlainLightning(pl.LightningModule):
    """What a Lightning user writes for SimCLR: automatic optimization, the loss logged."""

    def __init__(self, parts: dict[str, nn.Module], nhwc: bool) -> None:
        super().__init__()
        self.parts = nn.ModuleDict(parts)
        self.nhwc = nhwc

    def training_step(self, batch: list[dict[str, Any]], batch_idx: int) -> Any:
        loss = simclr_loss(dict(self.parts), batch, self.nhwc)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=LR, momentum=MOMENTUM)


def monitors(sizes: Sizes) -> list[pl.Callback]:
    """OnlineProbe + OnlineKNN + RankMe on the backbone features, as the recipes use them."""
    q, dim = sizes.monitor_queue, cnn_backbone(sizes)[1]
    return [
        OnlineProbe(name="probe", probe=nn.Linear(dim, NUM_CLASSES)),
        OnlineKNN(name="knn", input="embedding", target="label", queue_length=q, input_dim=dim),
        RankMe(name="rankme", input="embedding", queue_length=q),
    ]


def fit(
    module: pl.LightningModule,
    data: Any,
    sizes: Sizes,
    device: torch.device,
    callbacks: list[pl.Callback],
) -> float:
    timer = StepTimer(device, sizes.step_warmup)
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_steps=sizes.step_warmup + sizes.step_steps,
        precision=lightning_precision(device),  # type: ignore[arg-type]
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=50,
        callbacks=[timer, *callbacks],
    )
    if isinstance(data, DataModule):
        trainer.fit(module, datamodule=data)
    else:
        trainer.fit(module, train_dataloaders=data)
    return timer.seconds_per_step()


def spt_module(sizes: Sizes, option: str) -> pl.LightningModule:
    """spt.Module with SimCLR's forward; the options through its own arguments where it has them."""
    parts = components(sizes)
    kwargs = module_kwargs(option, sizes)
    channels_last, compiled = options(option)
    if channels_last and "channels_last" not in kwargs:
        parts["backbone"].to(memory_format=torch.channels_last)
    if compiled and "compile" not in kwargs:
        compile_parts(parts, sizes)
    optim = {"optimizer": {"type": "SGD", "lr": LR, "momentum": MOMENTUM}, "scheduler": None}
    return spt.Module(forward=spt.forward.simclr_forward, optim=optim, **parts, **kwargs)


def run_variant(variant: str, option: str, data: Data, sizes: Sizes, device: torch.device) -> float:
    """Seconds per step of one variant with one option set."""
    nhwc = options(option)[0]
    if variant == "raw":
        return run_raw(sizes, device, option, iter(data.premade_loader()), to_device=True)
    if variant == "raw, views on device":
        return run_raw(sizes, device, option, data.premade_on_device(), to_device=False)
    if variant == "LightningModule":
        parts = components(sizes)
        prepare(parts, option, sizes, device)
        return fit(PlainLightning(parts, nhwc), data.premade_loader(), sizes, device, [])
    if variant == "spt.Module":
        return fit(spt_module(sizes, option), data.premade_loader(), sizes, device, [])
    if variant == "spt.Module + 3 callbacks":
        module = spt_module(sizes, option)
        return fit(module, data.premade_loader(), sizes, device, monitors(sizes))
    loader: Any = data.uint8_loader() if "uint8" in variant else data.device_loader()
    datamodule = DataModule(train=loader, gpu_transform=views_recipe(sizes))
    return fit(spt_module(sizes, option), datamodule, sizes, device, monitors(sizes))


def step(sizes: Sizes, device: torch.device, grid: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Steps/s of every variant under every option set, and the issue's three ratios."""
    grid = grid or sizes.step_grid
    data = Data(sizes, device)
    seconds: dict[tuple[str, str], float] = {}
    with quiet_lightning():
        for option in grid:
            for variant in VARIANTS:
                seconds[variant, option] = run_variant(variant, option, data, sizes, device)
    rows = []
    for option in grid:
        raw = seconds["raw", option]
        for variant in VARIANTS:
            s = seconds[variant, option]
            rows.append(
                {
                    "options": option,
                    "variant": variant,
                    "steps_per_s": round(1.0 / s, 2),
                    "ms_per_step": round(s * 1e3, 2),
                    "vs_raw": round(raw / s, 3),
                }
            )
    targets = []
    for option in grid:
        for name, num, den, threshold in TARGETS:
            ratio = seconds[den, option] / seconds[num, option]
            targets.append(
                {
                    "name": f"{name} ({option})",
                    "value": round(ratio, 3),
                    "threshold": threshold,
                    "met": None if sizes.dry_run else bool(ratio >= threshold),
                }
            )
    b, side, name = sizes.step_batch, sizes.step_image, cnn_backbone(sizes)[2]
    return {
        "title": f"1. SimCLR {name} step, {b} x 2 views at {side}x{side}",
        "columns": ["options", "variant", "steps_per_s", "ms_per_step", "vs_raw"],
        "rows": rows,
        "targets": targets,
        "notes": [
            "vs_raw: throughput relative to the raw loop on a DataLoader of pre-made views with "
            "the same options; 3 callbacks: OnlineProbe, OnlineKNN and RankMe, queues of "
            f"{sizes.monitor_queue:,}",
            f"compile: nn.Module.compile of backbone and projector (backend {sizes.compile_backend}"
            "; spt.Module's own compile= where it has one)",
        ],
    }


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {"step": step}
