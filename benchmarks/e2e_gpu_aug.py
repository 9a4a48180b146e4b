"""End to end: a SimCLR ResNet-18 step fed by uint8 images + spt_data.gpu against pre-made views.

  premade   the step on two views that already sit on the device as normalised floats
            (augmentation cost zero: the compute floor of the step).
  gpu_aug   the step on a uint8 batch on the device, augmented there by the two-view SimCLR
            CIFAR-10 recipe (spt_data.gpu.MultiViewGPUTransform) inside the timed step.

The ratio premade_time / gpu_aug_time is the share of the compute floor this pipeline keeps
(target >= 0.9 on a GPU). The step: CIFAR-style ResNet-18 (3x3 stem, no max-pool), a 2-layer
projector, NT-Xent, SGD. Variants alternate step by step so load hits both alike.

Usage:
    uv run --no-sync python benchmarks/e2e_gpu_aug.py [--quick] [--device cuda|cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from _common import add_threads_argument
from torch import nn

from spt_data import static
from spt_data.gpu import (
    ColorJitter,
    GPUCompose,
    MultiViewGPUTransform,
    Normalize,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomSolarize,
)

RESULTS = Path(__file__).parent / "results"


def simclr_views() -> MultiViewGPUTransform:
    def recipe(scale: tuple[float, float], solarize: bool) -> GPUCompose:
        ops: list[nn.Module] = [
            RandomResizedCrop((32, 32), scale=scale),
            RandomHorizontalFlip(p=0.5),
            ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p=0.8),
            RandomGrayscale(p=0.2),
        ]
        if solarize:
            ops.append(RandomSolarize(threshold=0.5, p=0.2))
        return GPUCompose(*ops, Normalize(**static.CIFAR10))

    return MultiViewGPUTransform([recipe((0.2, 1.0), False), recipe((0.08, 1.0), True)])


def resnet18_cifar() -> nn.Module:
    net = torchvision.models.resnet18()
    net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    out: nn.Module = net
    return out


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D)
    sim = z @ z.T / temperature  # (2B, 2B)
    sim.fill_diagonal_(float("-inf"))
    b = z1.shape[0]
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(z.device)
    return F.cross_entropy(sim, target)


class SimCLRStep:
    def __init__(self, device: torch.device, channels_last: bool) -> None:
        self.backbone = resnet18_cifar().to(device)
        self.projector = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 128))
        self.projector.to(device)
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        params = [*self.backbone.parameters(), *self.projector.parameters()]
        self.optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9)
        self.channels_last = channels_last

    def __call__(self, views: list[dict[str, Any]]) -> None:
        images = torch.cat([v["image"] for v in views])  # (2B, 3, 32, 32)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        z = self.projector(self.backbone(images))
        loss = nt_xent(*z.chunk(2))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], None], device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batch, few steps")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "e2e_gpu_aug.json")
    add_threads_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch_size = args.batch_size or (512 if cuda else (16 if args.quick else 32))
    steps = args.steps or (50 if cuda else (3 if args.quick else 6))
    torch.manual_seed(0)
    step = SimCLRStep(device, channels_last=cuda)
    augment = simclr_views().to(device)
    uint8 = torch.randint(0, 256, (batch_size, 3, 32, 32), dtype=torch.uint8, device=device)
    batch = {"image": uint8, "label": torch.zeros(batch_size, dtype=torch.long, device=device)}
    with torch.no_grad():
        premade = augment(batch)  # made once, outside the timing

    def gpu_aug_step() -> None:
        with torch.no_grad():
            views = augment(batch)
        step(views)

    def premade_step() -> None:
        step(premade)

    for _ in range(2):  # warm-up (cudnn autotuning, allocator)
        gpu_aug_step()
        premade_step()
    times: dict[str, list[float]] = {"premade": [], "gpu_aug": []}
    for i in range(steps):
        pairs = [("premade", premade_step), ("gpu_aug", gpu_aug_step)]
        for name, fn in pairs if i % 2 == 0 else reversed(pairs):
            times[name].append(timed(fn, device))
    median = {k: statistics.median(v) for k, v in times.items()}
    views = 2 * batch_size
    row = {
        "batch_size": batch_size,
        "steps": steps,
        "premade_s_per_step": median["premade"],
        "gpu_aug_s_per_step": median["gpu_aug"],
        "premade_views_per_s": views / median["premade"],
        "gpu_aug_views_per_s": views / median["gpu_aug"],
        "ratio": median["premade"] / median["gpu_aug"],
    }
    if cuda:
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    print(f"SimCLR ResNet-18 step at 32x32 on {name}, torch {torch.__version__}")
    print("| batch | premade views (views/s) | uint8 + spt_data.gpu (views/s) | ratio |")
    print("|-------|-------------------------|--------------------------------|-------|")
    print(
        f"| {batch_size} | {row['premade_views_per_s']:,.0f} | "
        f"{row['gpu_aug_views_per_s']:,.0f} | {row['ratio']:.3f} |"
    )
    meta = {
        "device": name,
        "torch": torch.__version__,
        "threads": args.threads,
        "quick": args.quick,
        "unit": "views/s",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**meta, "rows": [row], "times": times}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
