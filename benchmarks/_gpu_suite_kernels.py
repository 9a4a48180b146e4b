"""Sections 2-4 of the GPU suite: augmentation views/s, NT-Xent against the naive formula, kNN.

Each function takes the suite's :class:`~_gpu_suite_sizes.Sizes` and the device and returns a
section: ``{"title", "columns", "rows", "targets", "notes"}`` (see ``gpu_suite.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from _gpu_suite_sizes import Sizes
from _gpu_suite_timing import PeakMemory, mib, seconds_per_call
from losses import NaiveNTXentLoss

from spt_callbacks import knn_predict
from spt_data import recipes, static
from spt_losses import NTXEntLoss

VIEWS_PER_S_TARGET = 150_000
NTXENT_SPEEDUP_TARGET = 2.0


def target(name: str, value: float, threshold: float, dry_run: bool) -> dict[str, Any]:
    """One target line: ``value >= threshold``; at toy size it is reported, not judged."""
    return {
        "name": name,
        "value": round(value, 3),
        "threshold": threshold,
        "met": None if dry_run else bool(value >= threshold),
    }


def augmentation(sizes: Sizes, device: torch.device) -> dict[str, Any]:
    """Two views per image with BYOL's asymmetric recipe, batched on the device."""
    rows, gen = [], torch.Generator(device=device).manual_seed(0)
    for side, source, batch in sizes.augment:
        stats = static.CIFAR10 if side <= 32 else static.ImageNet
        transform = recipes.byol(side, gpu=True, **stats).to(device)
        images = torch.randint(0, 256, (batch, 3, source, source), generator=gen, device=device)
        sample = {"image": images.to(torch.uint8)}

        def make_views(transform: Any = transform, sample: dict[str, Any] = sample) -> Any:
            with torch.no_grad():
                return transform(sample)

        seconds = seconds_per_call(
            make_views, device, iterations=sizes.augment_iterations, warmup=sizes.augment_warmup
        )
        rows.append(
            {
                "output": f"{side}x{side}",
                "source": f"{source}x{source} uint8",
                "batch": batch,
                "ms_per_batch": round(seconds * 1e3, 3),
                "views_per_s": round(2 * batch / seconds),
            }
        )
    small = rows[0]
    return {
        "title": "2. Two-view augmentation (spt_data.recipes.byol, gpu=True)",
        "columns": ["output", "source", "batch", "ms_per_batch", "views_per_s"],
        "rows": rows,
        "targets": [
            target(
                f"views/s at {small['output']} (batch {small['batch']})",
                small["views_per_s"],
                VIEWS_PER_S_TARGET,
                sizes.dry_run,
            )
        ],
        "notes": [
            "crop, flip, colour jitter, grayscale, blur (p 1.0 / 0.1), solarisation (0 / 0.2), "
            "normalisation; an independent draw per sample and per view"
        ],
    }


def ntxent(sizes: Sizes, device: torch.device) -> dict[str, Any]:
    """Forward + backward of spt_losses.NTXEntLoss and of the naive formula, float32."""
    ours, naive = NTXEntLoss(temperature=0.5), NaiveNTXentLoss(temperature=0.5)
    rows, targets = [], []
    gen = torch.Generator(device=device).manual_seed(0)
    for batch, dim in sizes.ntxent:
        z1 = torch.randn(batch, dim, generator=gen, device=device)
        z2 = torch.randn(batch, dim, generator=gen, device=device)
        losses: dict[str, torch.Tensor] = {}

        def fwd_bwd(
            fn: Any,
            name: str,
            z1: torch.Tensor = z1,
            z2: torch.Tensor = z2,
            losses: dict[str, torch.Tensor] = losses,
        ) -> None:
            a, b = z1.detach().requires_grad_(), z2.detach().requires_grad_()
            loss = fn(a, b)
            loss.backward()
            losses[name] = loss.detach()

        seconds = {}
        for name, fn in (("ours", ours), ("naive", naive)):
            seconds[name] = seconds_per_call(
                lambda fn=fn, name=name: fwd_bwd(fn, name),
                device,
                iterations=sizes.ntxent_iterations,
                warmup=sizes.ntxent_warmup,
            )
        speedup = seconds["naive"] / seconds["ours"]
        rows.append(
            {
                "batch": batch,
                "dim": dim,
                "ours_ms": round(seconds["ours"] * 1e3, 3),
                "naive_ms": round(seconds["naive"] * 1e3, 3),
                "naive/ours": round(speedup, 2),
                "loss_diff": float(abs(losses["ours"] - losses["naive"])),
            }
        )
        targets.append(
            target(f"naive/ours at {batch} x {dim}", speedup, NTXENT_SPEEDUP_TARGET, sizes.dry_run)
        )
    return {
        "title": "3. NT-Xent forward + backward (spt_losses.NTXEntLoss vs the naive formula)",
        "columns": ["batch", "dim", "ours_ms", "naive_ms", "naive/ours", "loss_diff"],
        "rows": rows,
        "targets": targets,
        "notes": [
            "batch = samples per view (2 x batch rows); naive = exp of the whole similarity "
            "matrix, a float mask, the log of a ratio (benchmarks/losses.py)"
        ],
    }


def knn(sizes: Sizes, device: torch.device) -> dict[str, Any]:
    """spt_callbacks.knn_predict over a large queue: time and peak extra memory per query set."""
    gen = torch.Generator(device=device).manual_seed(0)
    bank = torch.randn(sizes.knn_queue, sizes.knn_dim, generator=gen, device=device)
    labels = torch.randint(0, sizes.knn_classes, (sizes.knn_queue,), generator=gen, device=device)
    queries = torch.randn(sizes.knn_queries, sizes.knn_dim, generator=gen, device=device)

    def predict() -> torch.Tensor:
        return knn_predict(queries, bank, labels, sizes.knn_classes, k=20)

    predict()  # warm-up (kernels, allocator)
    with PeakMemory(device) as peak:
        seconds = seconds_per_call(predict, device, iterations=1, warmup=0)
    per_10k = 10_000 / sizes.knn_queries
    return {
        "title": "4. kNN over a queue (spt_callbacks.knn_predict, k = 20, cosine)",
        "columns": ["queue", "dim", "queries", "seconds", "seconds_per_10k", "peak_extra_mib"],
        "rows": [
            {
                "queue": sizes.knn_queue,
                "dim": sizes.knn_dim,
                "queries": sizes.knn_queries,
                "seconds": round(seconds, 4),
                "seconds_per_10k": round(seconds * per_10k, 4),
                "peak_extra_mib": mib(peak.bytes),
            }
        ],
        "targets": [],
        "notes": ["peak memory above the queue and the queries already held"],
    }
