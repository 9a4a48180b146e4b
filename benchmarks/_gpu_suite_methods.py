"""Section 5 of the GPU suite: one training step of every builder of ``spt.methods``.

Each builder runs at its defaults (the heads, queues and prototypes of its paper) on the
backbone its family uses: ResNet-18 with the CIFAR stem on 32x32 images (batch 256) for the
convolutional methods, a ViT-S/16 at 224 px (batch 64) for the methods that need a ViT
(a builder that refuses the ResNet with a message naming the ViT is retried with it). Two
views per image come from a DeviceLoader of uint8 images and a light GPU transform (flip and
normalisation), so the step, not the augmentation, is measured. A builder that cannot be run
this way (other inputs, such as text or masks) gets a row with its error: the table lists
every builder of ``spt.methods.__all__``, whatever has landed.

In the dry run the heads are shrunk (``Sizes.method_shrink``: any keyword the builder takes
among ``hidden_dim``, ``out_dim``, ``queue_size``, ...) so that it runs on the CPU.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import lightning as pl
import torch
from _gpu_suite_sizes import Sizes, cnn_backbone
from _gpu_suite_timing import PeakMemory, StepTimer, lightning_precision, mib, quiet_lightning
from torch import nn

import spt
from spt_data import DataModule, DeviceLoader, static
from spt_data.gpu import GPUCompose, MultiViewGPUTransform, Normalize, RandomHorizontalFlip

NUM_CLASSES = 10
VIT_HINTS = ("VisionTransformer", "ViT", "patch")


def builders() -> dict[str, Callable[..., Any]]:
    """The method builders of ``spt.methods`` (its functions; classes such as DINOHead are not)."""
    return {
        name: getattr(spt.methods, name)
        for name in spt.methods.__all__
        if inspect.isfunction(getattr(spt.methods, name))
    }


def cnn(sizes: Sizes) -> tuple[nn.Module, int, str, int, int]:
    backbone, dim, name = cnn_backbone(sizes)
    return backbone, dim, name, sizes.method_image, sizes.method_batch


def vit(sizes: Sizes) -> tuple[nn.Module, int, str, int, int]:
    cfg = sizes.method_vit
    backbone = spt.backbone.VisionTransformer(
        cfg["img_size"], cfg["patch_size"], dim=cfg["dim"], depth=cfg["depth"], heads=cfg["heads"]
    )
    name = f"ViT (dim {cfg['dim']}, depth {cfg['depth']}, patch {cfg['patch_size']})"
    return backbone, cfg["dim"], name, cfg["img_size"], sizes.method_vit_batch


def builder_kwargs(builder: Callable[..., Any], sizes: Sizes) -> dict[str, Any]:
    """Required keywords the suite can fill (``num_classes``) and, in the dry run, small heads."""
    params = inspect.signature(builder).parameters
    kwargs: dict[str, Any] = {}
    if "num_classes" in params:
        kwargs["num_classes"] = NUM_CLASSES
    kwargs.update({k: v for k, v in sizes.method_shrink.items() if k in params})
    return kwargs


def build(name: str, sizes: Sizes) -> tuple[pl.LightningModule, str, int, int]:
    """The module, the backbone's name, the image side and the batch size for one builder."""
    builder = builders()[name]
    kwargs = builder_kwargs(builder, sizes)
    torch.manual_seed(0)
    backbone, dim, label, side, batch = cnn(sizes)
    try:
        return builder(backbone, dim, **kwargs), label, side, batch
    except (TypeError, ValueError) as error:
        if not any(hint in str(error) for hint in VIT_HINTS):
            raise
    backbone, dim, label, side, batch = vit(sizes)
    return builder(backbone, dim, **kwargs), label, side, batch


def two_views(side: int, batch: int, steps: int) -> DataModule:
    gen = torch.Generator().manual_seed(0)
    n = batch * steps
    images = torch.randint(0, 256, (n, 3, side, side), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=gen)
    view = GPUCompose(RandomHorizontalFlip(p=0.5), Normalize(**static.CIFAR10))
    loader = DeviceLoader({"image": images, "label": labels}, batch, shuffle=False)
    return DataModule(train=loader, gpu_transform=MultiViewGPUTransform(view, n_views=2))


def measure(name: str, sizes: Sizes, device: torch.device) -> dict[str, Any]:
    module, backbone, side, batch = build(name, sizes)
    params = sum(p.numel() for p in module.parameters())
    steps = sizes.method_warmup + sizes.method_steps
    timer = StepTimer(device, sizes.method_warmup)
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_steps=steps,
        precision=lightning_precision(device),  # type: ignore[arg-type]
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    with PeakMemory(device) as peak:
        trainer.fit(module, datamodule=two_views(side, batch, steps))
    seconds = timer.seconds_per_step()
    return {
        "method": name,
        "backbone": backbone,
        "input": f"{batch} x 2 x {side}x{side}",
        "params_m": round(params / 1e6, 2),
        "steps_per_s": round(1.0 / seconds, 2),
        "ms_per_step": round(seconds * 1e3, 2),
        "peak_mib": mib(peak.bytes),
        "status": "ok",
    }


def methods(sizes: Sizes, device: torch.device) -> dict[str, Any]:
    """Steps/s and peak memory of every builder of spt.methods, one row each."""
    rows = []
    with quiet_lightning():
        for name in builders():
            try:
                rows.append(measure(name, sizes, device))
            except Exception as error:  # a row that says why, and the next method
                message = f"{type(error).__name__}: {error}".splitlines()[0][:160]
                rows.append({"method": name, "status": f"error: {message}"})
    columns = ["method", "backbone", "input", "params_m", "steps_per_s", "ms_per_step"]
    return {
        "title": "5. One training step of every method of spt.methods (builder defaults)",
        "columns": [*columns, "peak_mib", "status"],
        "rows": rows,
        "targets": [],
        "notes": [
            "peak_mib: peak memory of the fit above what was allocated before it (parameters, "
            "gradients, optimizer state, activations, the uint8 images)",
            "each builder's default optimizer (AdamW, cosine decay); bf16 autocast on a GPU",
        ],
    }
