"""Per-step cost of spt_module.Module against a raw PyTorch loop and a plain LightningModule.

Variants, all on the same DataLoader and the same initial weights, timed in one process and
interleaved (A, B, C, ..., A, B, C, ...) so that load on the machine hits them alike:

- ``raw``: a hand-written loop (move to device, forward, zero_grad, backward, SGD step);
- ``lightning``: a plain LightningModule, automatic optimization, same forward and SGD;
- ``spt_module``: ``spt_module.Module`` (manual optimization: one manual_backward, the
  Module's own step, zero_grad and lr logging at ``log_every_n_steps``);
- ``spt_module+probe``: the same with ``spt_callbacks.OnlineProbe`` (only when
  spt_callbacks is importable);
- ``spt_module+probe+knn+rankme``: with OnlineProbe, OnlineKNN(20,000) and RankMe(20,000);
- ``... (device-resident)``: the raw loop, the Module and the Module with the three callbacks
  fed by ``spt_data.DeviceLoader`` (the same tensors held on the device, batches by index
  gathers, no DataLoader, no per-step copy) through ``spt_data.DataModule``.

A step's time is measured from the start of step ``warmup`` to the end of the last step,
divided by the number of steps, so it holds the data fetch and every hook. Throughput ratio =
raw step time / variant step time (1.0 = as fast as the raw loop); ``*_same_loader`` takes
the raw loop fed by the same loader (the DeviceLoader's for the device-resident rows), the
other ratios the DataLoader's raw loop, plain Lightning or the Module. Process-CPU time per step
(``time.process_time``) is reported beside wall time: on a shared CPU it is far less
sensitive to other load.

The variants themselves are in ``_step_overhead_variants.py``; the workloads and the table
are here. Workloads: ``mlp`` (default; CPU, a small MLP where per-step overhead dominates) and
``simclr`` (the issue's GPU workload: ResNet-18 with a CIFAR stem and a 3-layer projector,
256 x 2 views at 32 x 32, bf16 autocast, SGD, NT-Xent; needs CUDA).

    uv run --no-sync python benchmarks/step_overhead.py            # mlp, 5 repeats of 300 steps
    uv run --no-sync python benchmarks/step_overhead.py --quick    # mlp, 3 repeats of 80 steps
    uv run --no-sync python benchmarks/step_overhead.py --workload simclr   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as pl
import torch
from _step_overhead_variants import (  # a module of this folder
    PlainLightning,
    device_resident,
    make_spt_module,
    monitor_callbacks,
    probe_callbacks,
    run_lightning,
    run_raw,
)
from torch import nn
from torch.utils.data import DataLoader, Dataset

try:
    from spt_data import DataModule
except ImportError:  # spt-data not installed: the device-resident variants are left out
    DataModule = None  # type: ignore[assignment,misc]

RESULTS = Path(__file__).resolve().parent / "results"
RESIDENT = "(device-resident)"
RESIDENT_RAW = f"raw {RESIDENT}"


# ----------------------------------------------------------------------------- workloads
class TensorDictDataset(Dataset[dict[str, Any]]):
    """Dict samples from tensors; ``length`` larger than the tensors cycles through them."""

    def __init__(self, tensors: dict[str, torch.Tensor], length: int | None = None) -> None:
        self.tensors = tensors
        self.rows = len(next(iter(tensors.values())))
        self.length = length or self.rows

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {k: v[i % self.rows] for k, v in self.tensors.items()}


def mlp_workload(steps: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    batch, dim, classes = 64, 32, 10
    data = {
        "x": torch.randn(steps * batch, dim, generator=gen),
        "label": torch.randint(0, classes, (steps * batch,), generator=gen),
    }

    def components() -> dict[str, nn.Module]:
        torch.manual_seed(0)
        return {
            "backbone": nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, 64)),
            "head": nn.Linear(64, classes),
        }

    def forward(self: Any, batch: dict[str, Any], stage: str) -> dict[str, Any]:
        embedding = self.backbone(batch["x"])
        loss = nn.functional.cross_entropy(self.head(embedding), batch["label"])
        return {"loss": loss, "embedding": embedding, "label": batch["label"]}

    return {
        "dataset": TensorDictDataset(data),
        "batch_size": batch,
        "components": components,
        "forward": forward,
        "embed_dim": 64,
        "precision": "32-true",
        "description": "MLP 32-64-64 + linear head, batch 64, fp32, SGD",
    }


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    z = nn.functional.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    n = z1.shape[0]
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return nn.functional.cross_entropy(sim, targets)


def simclr_workload(steps: int) -> dict[str, Any]:
    import torchvision

    batch = 256
    gen = torch.Generator().manual_seed(0)
    n = min(steps, 20) * batch  # the loader cycles through a few distinct batches
    data = {
        "view1": torch.randn(n, 3, 32, 32, generator=gen),
        "view2": torch.randn(n, 3, 32, 32, generator=gen),
        "label": torch.randint(0, 10, (n,), generator=gen),
    }

    def components() -> dict[str, nn.Module]:
        torch.manual_seed(0)
        backbone = torchvision.models.resnet18(num_classes=10)
        backbone.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        backbone.maxpool = nn.Identity()
        backbone.fc = nn.Identity()
        projector = nn.Sequential(
            nn.Linear(512, 2048),
            nn.BatchNorm1d(2048),
            nn.ReLU(),
            nn.Linear(2048, 2048),
            nn.BatchNorm1d(2048),
            nn.ReLU(),
            nn.Linear(2048, 128),
        )
        return {"backbone": backbone, "projector": projector}

    def forward(self: Any, batch: dict[str, Any], stage: str) -> dict[str, Any]:
        h = self.backbone(torch.cat([batch["view1"], batch["view2"]]))
        z1, z2 = self.projector(h).chunk(2)
        return {
            "loss": nt_xent(z1, z2),
            "embedding": h[: len(z1)].detach(),
            "label": batch["label"],
        }

    return {
        "dataset": TensorDictDataset(data, length=steps * batch),
        "batch_size": batch,
        "components": components,
        "forward": forward,
        "embed_dim": 512,
        "precision": "bf16-mixed",
        "description": "SimCLR ResNet-18 (CIFAR stem) + 3-layer projector, 256x2 views 32x32, bf16",
    }


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 repeats of 80 steps")
    parser.add_argument("--workload", choices=["mlp", "simclr"], default="mlp")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    steps = args.steps or (80 if args.quick else 300)
    repeats = args.repeats or (3 if args.quick else 5)
    warmup = max(10, steps // 10)
    torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")

    cuda = torch.cuda.is_available()
    if args.workload == "simclr" and not cuda:
        raise SystemExit("--workload simclr needs a CUDA device (ResNet-18 at batch 256x2)")
    work = mlp_workload(steps) if args.workload == "mlp" else simclr_workload(steps)
    device = torch.device("cuda" if cuda else "cpu")
    accelerator = "gpu" if cuda else "cpu"
    loader = DataLoader(
        work["dataset"], batch_size=work["batch_size"], shuffle=False, drop_last=True
    )
    variants: dict[str, Callable[[], tuple[float, float]]] = {
        "raw": lambda: run_raw(work, loader, device, warmup),
        "lightning": lambda: run_lightning(
            lambda: PlainLightning(work), work, loader, accelerator, warmup
        ),
        "spt_module": lambda: run_lightning(
            lambda: make_spt_module(work), work, loader, accelerator, warmup
        ),
    }
    probes = probe_callbacks(work)
    if probes is not None:
        variants["spt_module+probe"] = lambda: run_lightning(
            lambda: make_spt_module(work), work, loader, accelerator, warmup, probes
        )
    monitors = monitor_callbacks(work)
    if monitors is not None:
        variants["spt_module+probe+knn+rankme"] = lambda: run_lightning(
            lambda: make_spt_module(work), work, loader, accelerator, warmup, monitors
        )
    resident = device_resident(work, device)
    if resident is not None:
        data = DataModule(train=resident)
        variants[RESIDENT_RAW] = lambda: run_raw(work, resident, device, warmup)
        variants[f"spt_module {RESIDENT}"] = lambda: run_lightning(
            lambda: make_spt_module(work), work, data, accelerator, warmup
        )
        if monitors is not None:
            variants[f"spt_module+probe+knn+rankme {RESIDENT}"] = lambda: run_lightning(
                lambda: make_spt_module(work), work, data, accelerator, warmup, monitors
            )

    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    for fn in variants.values():  # one untimed warm-up run of each
        fn()
    for _ in range(repeats):
        for name, fn in variants.items():
            samples[name].append(fn())

    raw_wall = statistics.median(s[0] for s in samples["raw"])
    raw_cpu = statistics.median(s[1] for s in samples["raw"])
    lit_wall = statistics.median(s[0] for s in samples["lightning"])
    lit_cpu = statistics.median(s[1] for s in samples["lightning"])
    mod_wall = statistics.median(s[0] for s in samples["spt_module"])
    mod_cpu = statistics.median(s[1] for s in samples["spt_module"])
    rows = []
    for name, values in samples.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        # The raw loop fed by the same loader: the DataLoader's, or the DeviceLoader's.
        same = samples[RESIDENT_RAW if name.endswith(RESIDENT) else "raw"]
        same_wall, same_cpu = (statistics.median(v[i] for v in same) for i in (0, 1))
        rows.append(
            {
                "variant": name,
                "wall_ms_per_step": round(wall * 1e3, 4),
                "cpu_ms_per_step": round(cpu * 1e3, 4),
                "throughput_vs_raw_wall": round(raw_wall / wall, 3),
                "throughput_vs_raw_cpu": round(raw_cpu / cpu, 3),
                "throughput_vs_raw_same_loader_wall": round(same_wall / wall, 3),
                "throughput_vs_raw_same_loader_cpu": round(same_cpu / cpu, 3),
                "throughput_vs_lightning_wall": round(lit_wall / wall, 3),
                "throughput_vs_lightning_cpu": round(lit_cpu / cpu, 3),
                "throughput_vs_module_wall": round(mod_wall / wall, 3),
                "throughput_vs_module_cpu": round(mod_cpu / cpu, 3),
            }
        )
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))

    meta = {
        "command": "uv run --no-sync python benchmarks/step_overhead.py"
        + (" --quick" if args.quick else "")
        + (f" --workload {args.workload}" if args.workload != "mlp" else ""),
        "workload": work["description"],
        "steps": steps,
        "warmup_steps": warmup,
        "repeats": repeats,
        "device": torch.cuda.get_device_name() if cuda else f"CPU ({os.cpu_count()} cores)",
        "torch_threads": args.threads,
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "python": platform.python_version(),
        "note": "figures are medians over repeats; variants interleaved in one process",
    }
    RESULTS.mkdir(exist_ok=True)
    name = "step_overhead" if args.workload == "mlp" else f"step_overhead_{args.workload}"
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
