"""The variants that ``step_overhead.py`` times: a raw loop, Lightning, the Module, callbacks.

Each ``run_*`` function trains one epoch of a workload (a dict made by
``step_overhead.mlp_workload`` or ``simclr_workload``) and returns ``(wall, cpu)`` seconds
per step from the start of step ``warmup`` to the end of the last step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import lightning as pl
import torch
from torch import nn

from spt_module import Module

try:
    from spt_data import DeviceLoader
except ImportError:  # spt-data not installed: the device-resident variants are left out
    DeviceLoader = None  # type: ignore[assignment,misc]

__all__ = [
    "PlainLightning",
    "StepClock",
    "device_resident",
    "make_spt_module",
    "monitor_callbacks",
    "probe_callbacks",
    "run_lightning",
    "run_raw",
]


class StepClock(pl.Callback):
    """Wall and CPU time from the start of step ``warmup`` to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: tuple[float, float] | None = None
        self.end: tuple[float, float] = (0.0, 0.0)
        self.steps = 0

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
        if idx == self.warmup:
            _sync()
            self.start = (time.perf_counter(), time.process_time())

    def on_train_batch_end(self, trainer: Any, pl_module: Any, out: Any, batch: Any, idx: int):
        if idx >= self.warmup:
            _sync()
            self.end = (time.perf_counter(), time.process_time())
            self.steps = idx - self.warmup + 1

    def per_step(self) -> tuple[float, float]:
        assert self.start is not None, "fewer steps than the warm-up"
        return (
            (self.end[0] - self.start[0]) / self.steps,
            (self.end[1] - self.start[1]) / self.steps,
        )


# Asked once: under Lightning (which sets PYTORCH_NVML_BASED_CUDA_CHECK=1) on a machine
# without a GPU, every torch.cuda.is_available() loads NVML again, ~0.25 ms of wall time, which
# a per-step check in StepClock would add to the Lightning variants only.
_CUDA = torch.cuda.is_available()


def _sync() -> None:
    if _CUDA:
        torch.cuda.synchronize()


def run_raw(work: dict[str, Any], loader: Any, device: torch.device, warmup: int):
    model = nn.Module()
    for name, value in work["components"]().items():
        setattr(model, name, value)
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    bf16 = work["precision"] == "bf16-mixed"
    start, steps = (0.0, 0.0), 0
    for idx, batch in enumerate(loader):
        if idx == warmup:
            _sync()
            start = (time.perf_counter(), time.process_time())
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = work["forward"](model, batch, "fit")["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps = idx - warmup + 1
    _sync()
    return (time.perf_counter() - start[0]) / steps, (time.process_time() - start[1]) / steps


class PlainLightning(pl.LightningModule):
    def __init__(self, work: dict[str, Any]) -> None:
        super().__init__()
        for name, value in work["components"]().items():
            setattr(self, name, value)
        self._forward = work["forward"]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Any:
        out = self._forward(self, batch, "fit")
        # What a Lightning user writes to see the loss (spt.Module logs it for you).
        self.log("train/loss", out["loss"], prog_bar=True)
        return out

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)


def make_spt_module(work: dict[str, Any]) -> Module:
    optim = {"optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9}, "scheduler": None}
    return Module(forward=work["forward"], optim=optim, **work["components"]())


def device_resident(work: dict[str, Any], device: torch.device) -> Any:
    """The workload's tensors as a DeviceLoader (same rows and order as the DataLoader), or None."""
    if DeviceLoader is None:
        return None
    dataset = work["dataset"]  # a step_overhead.TensorDictDataset
    rows = torch.arange(dataset.length) % dataset.rows  # the DataLoader's cycling, materialised
    data = {k: v[rows] for k, v in dataset.tensors.items()}
    return DeviceLoader(data, work["batch_size"], shuffle=False, drop_last=True).place(device)


def run_lightning(
    module_fn: Callable[[], pl.LightningModule],
    work: dict[str, Any],
    loader: Any,
    accelerator: str,
    warmup: int,
    extra_callbacks: Callable[[], list[pl.Callback]] | None = None,
) -> tuple[float, float]:
    clock = StepClock(warmup)
    callbacks = [clock, *(extra_callbacks() if extra_callbacks else [])]
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=1,
        precision=work["precision"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )
    if isinstance(loader, pl.LightningDataModule):
        trainer.fit(module_fn(), datamodule=loader)
    else:
        trainer.fit(module_fn(), loader)
    return clock.per_step()


def probe_callbacks(work: dict[str, Any]) -> Callable[[], list[pl.Callback]] | None:
    try:
        from spt_callbacks import OnlineProbe
    except ImportError:
        return None
    return lambda: [OnlineProbe(name="probe", probe=nn.Linear(work["embed_dim"], 10))]


def monitor_callbacks(work: dict[str, Any]) -> Callable[[], list[pl.Callback]] | None:
    """OnlineProbe + OnlineKNN(queue 20,000) + RankMe(queue 20,000), the issue's variant."""
    try:
        from spt_callbacks import OnlineKNN, OnlineProbe, RankMe
    except ImportError:
        return None
    return lambda: [
        OnlineProbe(name="probe", probe=nn.Linear(work["embed_dim"], 10)),
        OnlineKNN(name="knn", input="embedding", target="label", queue_length=20_000),
        RankMe(name="rankme", input="embedding", queue_length=20_000),
    ]
