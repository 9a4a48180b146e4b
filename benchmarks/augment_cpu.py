"""Views per second of the CPU augmentation pipeline: spt_data.transforms against plain torchvision.

The two-view SimCLR recipe for CIFAR-10 at 32x32, from 32x32 PIL images (what
``torchvision.datasets.CIFAR10`` hands out), in DataLoader workers, collated into batches:

  ours        FromTorchDataset + MultiViewTransform of two spt_data.transforms.Compose:
              dict samples, each view a dict with image, label and sample_idx.
  torchvision the same two recipes written directly with torchvision.transforms.v2 over a
              tuple dataset: (view_1, view_2, label).

Both run in the same process, interleaved round by round so that load from other processes
hits both alike; the table reports the median over rounds, the ratio of medians and the ratio
of the best rounds (least disturbed by load). The first row reads samples without a DataLoader
in many short alternating runs: the per-sample cost alone.

Usage:
    uv run --no-sync python benchmarks/augment_cpu.py [--quick] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from _common import add_threads_argument, markdown_table
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

import spt_data
from spt_data import static, transforms

RESULTS = Path(__file__).parent / "results"


class PILImages(Dataset[tuple[Image.Image, int]]):
    """A CIFAR-10 stand-in: uint8 arrays in memory, a PIL image per item, as CIFAR10 does."""

    def __init__(self, n: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g).numpy()
        self.labels = torch.randint(0, 10, (n,), generator=g).tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        return Image.fromarray(self.images[i]), self.labels[i]


def ours(base: Dataset[Any]) -> Dataset[Any]:
    """SimCLR's two CIFAR-10 views; the second adds solarization and smaller crops."""

    def view(scale: tuple[float, float], solarize: bool) -> transforms.Compose:
        ops: list[Any] = [
            transforms.RGB(),
            transforms.RandomResizedCrop((32, 32), scale=scale),
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p=0.8),
            transforms.RandomGrayscale(p=0.2),
        ]
        if solarize:
            ops.append(transforms.RandomSolarize(threshold=0.5, p=0.2))
        return transforms.Compose(*ops, transforms.ToImage(**static.CIFAR10))

    simclr = transforms.MultiViewTransform([view((0.2, 1.0), False), view((0.08, 1.0), True)])
    return spt_data.FromTorchDataset(base, names=["image", "label"], transform=simclr)


class PlainTorchvision(Dataset[tuple[torch.Tensor, torch.Tensor, int]]):
    """The same two views with torchvision.transforms.v2 only, over tuples."""

    def __init__(self, base: PILImages) -> None:
        self.base = base
        self.views = [self.view((0.2, 1.0), False), self.view((0.08, 1.0), True)]

    @staticmethod
    def view(scale: tuple[float, float], solarize: bool) -> v2.Compose:
        ops: list[Any] = [
            v2.RGB(),
            v2.RandomResizedCrop((32, 32), scale=scale, antialias=True),
            v2.RandomHorizontalFlip(p=0.5),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
        ]
        if solarize:
            ops.append(v2.RandomSolarize(127.5, p=0.2))
        ops += [
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(static.CIFAR10["mean"]), list(static.CIFAR10["std"])),
        ]
        return v2.Compose(ops)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        image, label = self.base[i]
        return self.views[0](image), self.views[1](image), label


def make_loader(dataset: Dataset[Any], workers: int, batch_size: int) -> DataLoader[Any]:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
    )


def views_per_second(loader: DataLoader[Any], batches: int) -> float:
    """Two views per sample, over ``batches`` batches after the first (worker start-up)."""
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        try:
            next(it)
        except StopIteration:
            it = iter(loader)
            next(it)
    assert loader.batch_size is not None
    assert loader.drop_last
    return 2 * loader.batch_size * batches / (time.perf_counter() - start)


def direct_views_per_second(dataset: Dataset[Any], n: int) -> float:
    """Two views per sample, reading ``n`` samples in this process without a DataLoader."""
    start = time.perf_counter()
    for i in range(n):
        dataset[i]
    return 2 * n / (time.perf_counter() - start)


def summarise(workers: int | str, samples: dict[str, list[float]]) -> dict[str, Any]:
    """Median views/s per variant, the ratio of medians and the ratio of best rounds."""
    median = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "workers": workers,
        "ours_views_per_s": median["ours"],
        "torchvision_views_per_s": median["torchvision"],
        "ratio": median["ours"] / median["torchvision"],
        "ratio_best": max(samples["ours"]) / max(samples["torchvision"]),
        "ours_rounds": samples["ours"],
        "torchvision_rounds": samples["torchvision"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches and rounds")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=RESULTS / "augment_cpu.json")
    add_threads_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds = 2 if args.quick else 6
    batches = 2 if args.quick else 3
    base = PILImages(args.batch_size * (batches + 2))
    variants = {"ours": ours(base), "torchvision": PlainTorchvision(base)}
    rows = []
    # Per-sample cost alone, in this process, alternating short runs (least exposed to load).
    direct: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(10 * rounds):
        for name in list(variants) if r % 2 == 0 else list(reversed(variants)):
            torch.manual_seed(r)
            direct[name].append(direct_views_per_second(variants[name], 64))
    rows.append(summarise("none (direct)", direct))
    for workers in args.workers:
        loaders = {k: make_loader(ds, workers, args.batch_size) for k, ds in variants.items()}
        samples: dict[str, list[float]] = {k: [] for k in variants}
        for r in range(rounds):
            order = list(loaders) if r % 2 == 0 else list(reversed(loaders))
            for name in order:
                torch.manual_seed(r)
                samples[name].append(views_per_second(loaders[name], batches))
        rows.append(summarise(workers, samples))
        del loaders
    shown = [
        {
            "workers": r["workers"],
            "ours (views/s)": f"{r['ours_views_per_s']:,.0f}",
            "torchvision v2 (views/s)": f"{r['torchvision_views_per_s']:,.0f}",
            "ours / torchvision (median)": f"{r['ratio']:.3f}",
            "ours / torchvision (best)": f"{r['ratio_best']:.3f}",
        }
        for r in rows
    ]
    cpu = platform.processor() or platform.machine()
    header = (
        f"SimCLR two-view CIFAR-10 recipe at 32x32, batch {args.batch_size}; {cpu}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}; median of {rounds} rounds "
        f"of {batches} batches"
    )
    print(header)
    print(markdown_table(shown, list(shown[0])))
    meta = {
        "recipe": "simclr_cifar10_two_views",
        "size": 32,
        "batch_size": args.batch_size,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "threads": args.threads,
        "quick": args.quick,
        "rounds": rounds,
        "batches_per_round": batches,
        "unit": "views/s",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
