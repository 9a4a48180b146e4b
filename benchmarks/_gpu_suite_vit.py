"""Section 6 of the GPU suite (and ``vit_step.py``): a ViT training step of I-JEPA and DINOv2.

Each of ``spt.methods.ijepa`` and ``spt.methods.dinov2`` is built at its defaults on a ViT-S/16
at 224 px (``Sizes.vit_step_vit``): I-JEPA on the paper's encoder (sin-cos positions, no class
token) with batch 64; DINOv2 on a ViT with a mask token and LayerScale 1e-5, batch 32 with 2
global views at 224 px and 8 local ones at 96 px. Every method runs four ways:

- attention ``sdpa`` (``F.scaled_dot_product_attention``, the default) or ``naive`` (the
  explicit ``softmax(q k^T / sqrt(d)) v``; ``spt.backbone._vit_blocks.set_fused_attention``
  on the whole module: encoder, EMA teacher and predictor);
- compile ``off`` or ``on``: ``spt.Module(compile=True)``, which compiles every top-level
  component that holds parameters (``nn.Module.compile``, inductor). The dry run compiles
  the same components with dynamo's eager backend instead (no code generation on the CPU).

The step is Lightning's fit loop with bf16 autocast on a GPU (``precision="bf16-mixed"``):
forward, the masks drawn on the device by the module's ``mask_generator``, backward, AdamW,
the EMA teacher update. The batches are made on the device beforehand (random images, a few
distinct batches cycled), so neither data loading nor augmentation is in the figures.
"""

from __future__ import annotations

import gc
import inspect
from typing import Any

import lightning as pl
import torch
from _gpu_suite_sizes import Sizes
from _gpu_suite_timing import PeakMemory, StepTimer, lightning_precision, mib, quiet_lightning

import spt
from spt.backbone._vit_blocks import set_fused_attention
from spt_module._compile import components_to_compile

METHODS = ("ijepa", "dinov2")
ATTENTION = ("sdpa", "naive")
COMPILE = ("off", "on")
NUM_CLASSES = 10
DISTINCT_BATCHES = 2


def vit_backbone(method: str, sizes: Sizes) -> spt.backbone.VisionTransformer:
    """The ViT of each paper: I-JEPA's has no class token, DINOv2's has a mask token."""
    cfg = sizes.vit_step_vit
    if method == "ijepa":
        extra: dict[str, Any] = {"pos_embed": "sincos", "class_token": False}
    else:
        extra = {"mask_token": True, "layer_scale": 1e-5}
    return spt.backbone.VisionTransformer(
        cfg["img_size"],
        cfg["patch_size"],
        dim=cfg["dim"],
        depth=cfg["depth"],
        heads=cfg["heads"],
        **extra,
    )


def build(method: str, attention: str, compiled: bool, sizes: Sizes) -> pl.LightningModule:
    """The method's module at its defaults (heads shrunk in the dry run), as the row asks."""
    torch.manual_seed(0)
    builder = getattr(spt.methods, method)
    params = inspect.signature(builder).parameters
    kwargs: dict[str, Any] = {k: v for k, v in sizes.vit_step_shrink.items() if k in params}
    if compiled and not sizes.dry_run:
        kwargs["compile"] = True  # spt.Module compiles in configure_model
    module: pl.LightningModule = builder(
        vit_backbone(method, sizes), sizes.vit_step_vit["dim"], **kwargs
    )
    set_fused_attention(module, attention == "sdpa")
    if compiled and sizes.dry_run:  # what compile=True selects, on dynamo's eager backend
        for name in components_to_compile(module):
            getattr(module, name).compile(backend=sizes.compile_backend)
    return module


class CompileCounter(pl.Callback):
    """Frames dynamo compiled from the start of step ``warmup`` on: recompiles inside the timing."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.at_warmup: int | None = None

    @staticmethod
    def frames() -> int:
        from torch._dynamo.utils import counters

        return int(counters["frames"]["ok"])

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
        if idx == self.warmup:
            self.at_warmup = self.frames()

    def timed(self) -> int | None:
        return None if self.at_warmup is None else self.frames() - self.at_warmup


class RepeatedBatches:
    """``steps`` batches that cycle through a few made in advance (a loader for ``Trainer.fit``)."""

    def __init__(self, batches: list[Any], steps: int) -> None:
        self.batches, self.steps = batches, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Any:
        return (self.batches[i % len(self.batches)] for i in range(self.steps))


def views(method: str, sizes: Sizes, device: torch.device) -> tuple[list[Any], str]:
    """A few batches of random images on the device, and their shape in words.

    I-JEPA reads one view ``{"image": (B, 3, S, S), "label": (B,)}``; DINOv2 a list of the
    global views at ``S`` then the local ones.
    """
    gen = torch.Generator().manual_seed(0)
    side, batch = sizes.vit_step_vit["img_size"], sizes.vit_step_batch[method]
    n_local, local_side = sizes.vit_step_local

    def view(s: int) -> dict[str, torch.Tensor]:
        image = torch.randn(batch, 3, s, s, generator=gen)
        label = torch.randint(0, NUM_CLASSES, (batch,), generator=gen)
        return {"image": image.to(device), "label": label.to(device)}

    if method == "ijepa":
        return [view(side) for _ in range(DISTINCT_BATCHES)], f"{batch} x {side}x{side}"
    batches = [
        [view(side), view(side), *(view(local_side) for _ in range(n_local))]
        for _ in range(DISTINCT_BATCHES)
    ]
    return batches, f"{batch} x (2 x {side}px + {n_local} x {local_side}px)"


def measure(
    method: str, attention: str, compiled: bool, sizes: Sizes, device: torch.device
) -> dict[str, Any]:
    """Steps/s and peak memory of one method, attention and compile setting."""
    torch._dynamo.reset()  # each compiled run starts from an empty cache
    module = build(method, attention, compiled, sizes)
    params = sum(p.numel() for p in module.parameters())
    steps = sizes.vit_step_warmup + sizes.vit_step_steps
    batches, shape = views(method, sizes, device)
    timer = StepTimer(device, sizes.vit_step_warmup)
    counter = CompileCounter(sizes.vit_step_warmup)
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
        callbacks=[timer, counter],
    )
    with PeakMemory(device) as peak:
        trainer.fit(module, train_dataloaders=RepeatedBatches(batches, steps))
    seconds = timer.seconds_per_step()
    return {
        "method": method,
        "attention": attention,
        "compile": "on" if compiled else "off",
        "input": shape,
        "params_m": round(params / 1e6, 2),
        "steps_per_s": round(1.0 / seconds, 2),
        "ms_per_step": round(seconds * 1e3, 2),
        "peak_mib": mib(peak.bytes),
        "timed_compiles": counter.timed(),
        "status": "ok",
    }


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def vit_step(
    sizes: Sizes, device: torch.device, methods: tuple[str, ...] = METHODS
) -> dict[str, Any]:
    """One row per method, attention and compile setting; ``vs_base`` against SDPA eager."""
    rows: list[dict[str, Any]] = []
    with quiet_lightning():
        for method in methods:
            for compiled in (False, True):
                for attention in ATTENTION:
                    try:
                        rows.append(measure(method, attention, compiled, sizes, device))
                    except Exception as error:  # a row that says why, and the next one
                        message = f"{type(error).__name__}: {error}".splitlines()[0][:160]
                        rows.append(
                            {
                                "method": method,
                                "attention": attention,
                                "compile": "on" if compiled else "off",
                                "status": f"error: {message}",
                            }
                        )
                    release(device)
    for row in rows:
        base = next(
            (
                r
                for r in rows
                if (r["method"], r["attention"], r["compile"]) == (row["method"], "sdpa", "off")
            ),
            None,
        )
        if "ms_per_step" in row and base is not None and "ms_per_step" in base:
            row["vs_base"] = round(base["ms_per_step"] / row["ms_per_step"], 3)
    cfg = sizes.vit_step_vit
    vit = f"ViT (dim {cfg['dim']}, depth {cfg['depth']}, heads {cfg['heads']}, "
    vit += f"patch {cfg['patch_size']}) at {cfg['img_size']} px"
    compiler = "spt.Module(compile=True), inductor"
    if sizes.dry_run:
        compiler = f"the components compile=True selects, dynamo backend {sizes.compile_backend}"
    defaults = "builder defaults (AdamW with cosine decay; DINOv2's 65536-prototype heads)"
    if sizes.dry_run:
        defaults = f"builder defaults but the heads shrunk to {sizes.vit_step_shrink}"
    columns = ["method", "attention", "compile", "input", "params_m", "steps_per_s"]
    return {
        "title": f"6. {vit}: one I-JEPA and DINOv2 step, SDPA or naive attention, compile off/on",
        "columns": [*columns, "ms_per_step", "vs_base", "peak_mib", "timed_compiles", "status"],
        "rows": rows,
        "targets": [],
        "notes": [
            "vs_base: throughput relative to the same method with SDPA and compile off; "
            "timed_compiles: frames dynamo compiled during the timed steps (I-JEPA's context "
            "and target sizes change from step to step; a non-zero count means compilation "
            "time is inside the figure)",
            f"compile on: {compiler}; the EMA teachers too (TeacherStudent.compile also "
            "compiles the teacher that forward_teacher calls)",
            "peak_mib: peak memory of the fit above what was allocated before it (parameters, "
            "EMA teacher, gradients, AdamW state, activations; the batches are made before); "
            "on the CPU the resident set's peak above its start, a rough figure",
            f"{defaults}; bf16 autocast on a GPU, float32 on the CPU; batches of random images "
            f"already on the device; {sizes.vit_step_warmup} warm-up steps, "
            f"{sizes.vit_step_steps} timed",
        ],
    }
