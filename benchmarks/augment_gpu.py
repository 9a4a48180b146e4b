"""Views per second of batched device augmentation (spt_data.gpu) against CPU pipelines.

Three ways to make SSL views, same recipe:
  ours        spt_data.gpu: one uint8 batch on the device, an independent draw per sample
              and per view (MultiViewGPUTransform).
  cpu_workers torchvision v2 per-sample transforms in DataLoader workers (the usual
              pipeline), uint8 images in, normalised float views out, collated.
  batch_wide  torchvision v2 applied to the whole batch tensor on the device: ONE random
              draw for the whole batch. Not a valid SSL pipeline; an upper bound.

Recipes: SimCLR CIFAR-10 (two views, 32x32 from 32x32, batch 512) and BYOL's
ImageNet pair (224x224 from 256x256 sources, blur and solarize asymmetric).

Usage:
    uv run --no-sync python benchmarks/augment_gpu.py [--quick] [--device cuda|cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _common import add_threads_argument, markdown_table
from torchvision.transforms import v2

from spt_data import static
from spt_data.gpu import (
    ColorJitter,
    GaussianBlur,
    GPUCompose,
    MultiViewGPUTransform,
    Normalize,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomSolarize,
)

CIFAR10 = {"mean": list(static.CIFAR10["mean"]), "std": list(static.CIFAR10["std"])}
IMAGENET = {"mean": list(static.ImageNet["mean"]), "std": list(static.ImageNet["std"])}
RESULTS = Path(__file__).parent / "results"


def view_specs(recipe: str) -> tuple[int, list[dict[str, Any]]]:
    """Output size and, per view, the recipe's parameters."""
    if recipe == "simclr_cifar10":
        base = {"stats": CIFAR10, "blur": 0.0, "solarize": 0.0}
        return 32, [{**base, "scale": (0.2, 1.0)}, {**base, "scale": (0.08, 1.0), "solarize": 0.2}]
    base = {"stats": IMAGENET, "scale": (0.08, 1.0)}
    return 224, [{**base, "blur": 1.0, "solarize": 0.0}, {**base, "blur": 0.1, "solarize": 0.2}]


def ours(recipe: str) -> MultiViewGPUTransform:
    size, specs = view_specs(recipe)
    views = []
    for s in specs:
        ops: list[torch.nn.Module] = [
            RandomResizedCrop((size, size), scale=s["scale"]),
            RandomHorizontalFlip(p=0.5),
            ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8),
            RandomGrayscale(p=0.2),
        ]
        if s["blur"] > 0:
            ops.append(GaussianBlur(23, sigma=(0.1, 2.0), p=s["blur"]))
        if s["solarize"] > 0:
            ops.append(RandomSolarize(0.5, p=s["solarize"]))
        views.append(GPUCompose(*ops, Normalize(**s["stats"])))
    return MultiViewGPUTransform(views)


def torchvision_views(recipe: str) -> list[v2.Compose]:
    """The same recipe as torchvision v2 transforms (uint8 in, normalised float out)."""
    size, specs = view_specs(recipe)
    out = []
    for s in specs:
        ts: list[Any] = [
            v2.RandomResizedCrop((size, size), scale=s["scale"], antialias=True),
            v2.RandomHorizontalFlip(p=0.5),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
        ]
        if s["blur"] > 0:
            ts.append(v2.RandomApply([v2.GaussianBlur(23, sigma=(0.1, 2.0))], p=s["blur"]))
        if s["solarize"] > 0:
            ts.append(v2.RandomSolarize(128, p=s["solarize"]))
        ts += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(**s["stats"])]
        out.append(v2.Compose(ts))
    return out


class _TwoViewDataset(torch.utils.data.Dataset[list[torch.Tensor]]):
    def __init__(self, images: torch.Tensor, views: list[v2.Compose]) -> None:
        self.images, self.views = images, views

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> list[torch.Tensor]:
        return [t(self.images[i]) for t in self.views]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_calls(fn: Callable[[], Any], iters: int, device: torch.device, warmup: int = 2) -> float:
    """Seconds per call, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - start) / iters


def bench_ours(recipe: str, images: torch.Tensor, iters: int) -> float:
    aug = ours(recipe).to(images.device)
    batch = {"image": images, "label": torch.zeros(len(images), device=images.device)}
    with torch.no_grad():
        sec = time_calls(lambda: aug(batch), iters, images.device)
    return 2 * len(images) / sec


def bench_batch_wide(recipe: str, images: torch.Tensor, iters: int) -> float:
    views = torchvision_views(recipe)
    with torch.no_grad():
        sec = time_calls(lambda: [t(images) for t in views], iters, images.device)
    return 2 * len(images) / sec


def bench_cpu_workers(recipe: str, images: torch.Tensor, batches: int, workers: int) -> float:
    ds = _TwoViewDataset(images.cpu(), torchvision_views(recipe))
    loader = torch.utils.data.DataLoader(
        ds, batch_size=len(images) // 4, shuffle=True, num_workers=workers, drop_last=True
    )
    n, it = 0, iter(loader)
    next(it)  # worker start-up and the first batch are not counted
    start = time.perf_counter()
    for _ in range(batches):
        try:
            views = next(it)
        except StopIteration:
            it = iter(loader)
            views = next(it)
        n += 2 * len(views[0])
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations, small batches")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader workers (CPU path)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "augment_gpu.json")
    add_threads_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    iters = 3 if args.quick else (50 if cuda else 8)
    configs = [
        ("simclr_cifar10", 32, 512),
        ("byol_imagenet", 256, 256 if cuda else (16 if args.quick else 64)),
    ]
    g = torch.Generator().manual_seed(0)
    rows = []
    for recipe, src, batch in configs:
        images = torch.randint(0, 256, (batch, 3, src, src), dtype=torch.uint8, generator=g)
        dev_images = images.to(device)
        cpu_batches = 2 if args.quick else 6
        row = {
            "recipe": recipe,
            "size": 32 if recipe.startswith("simclr") else 224,
            "batch": batch,
            "ours": bench_ours(recipe, dev_images, iters),
            "batch_wide_upper_bound": bench_batch_wide(recipe, dev_images, iters),
        }
        for workers in args.workers:
            row[f"cpu_workers_{workers}"] = bench_cpu_workers(recipe, images, cpu_batches, workers)
        rows.append(row)
    columns = list(rows[0])
    shown = [{k: (f"{v:,.0f}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.processor() or 'cpu'})"
    print(f"views/s on {name}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(markdown_table(shown, columns))
    meta = {
        "device": name,
        "torch": torch.__version__,
        "threads": args.threads,
        "quick": args.quick,
        "iters": iters,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**meta, "unit": "views/s", "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
