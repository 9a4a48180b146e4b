"""Clocks, peak memory and precision for the GPU suite (``gpu_suite.py``), on CUDA or the CPU.

On CUDA, time is measured with ``torch.cuda.Event`` pairs around the timed work, after a
synchronize, and peak memory is ``torch.cuda.max_memory_allocated`` above the memory held
when the measurement starts. On the CPU (the dry run), time is ``time.perf_counter`` and peak
memory is the process's peak resident set above its resident set at the start (Linux resets
the peak through ``/proc/self/clear_refs``; elsewhere it is reported as None).
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as pl
import torch


def describe(device: torch.device) -> str:
    """The device's name as the suite records it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA; float32 (no autocast) on the CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def lightning_precision(device: torch.device) -> str:
    return "bf16-mixed" if device.type == "cuda" else "32-true"


class Stopwatch:
    """Seconds between :meth:`start` and :meth:`stop` (the last call wins), device-accurate."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._cuda = device.type == "cuda"
        self._start: Any = None
        self._stop: Any = None

    def _mark(self) -> Any:
        if self._cuda:
            event = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            event.record()
            return event
        return time.perf_counter()

    def start(self) -> None:
        synchronize(self.device)
        self._start = self._mark()

    def stop(self) -> None:
        self._stop = self._mark()

    def seconds(self) -> float:
        if self._start is None or self._stop is None:
            raise RuntimeError("Stopwatch: start() and stop() must both run before seconds()")
        if self._cuda:
            self._stop.synchronize()
            return float(self._start.elapsed_time(self._stop)) / 1e3
        return float(self._stop - self._start)


def seconds_per_call(
    fn: Callable[[], Any], device: torch.device, *, iterations: int, warmup: int
) -> float:
    """Mean seconds of ``fn()`` over ``iterations`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    watch = Stopwatch(device)
    watch.start()
    for _ in range(iterations):
        fn()
    watch.stop()
    return watch.seconds() / iterations


class StepTimer(pl.Callback):
    """Seconds per training step from the start of step ``warmup`` to the end of the last one.

    Everything Lightning does per step is inside: the batch fetch, the transfer, the GPU
    transform, every hook and callback.
    """

    def __init__(self, device: torch.device, warmup: int) -> None:
        self.watch = Stopwatch(device)
        self.warmup = warmup
        self.steps = 0

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
        if idx == self.warmup:
            self.watch.start()

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, idx: int
    ) -> None:
        if idx >= self.warmup:
            self.watch.stop()
            self.steps = idx - self.warmup + 1

    def seconds_per_step(self) -> float:
        if self.steps == 0:
            raise RuntimeError("StepTimer: the run ended before the warm-up steps were done")
        return self.watch.seconds() / self.steps


def _cpu_status(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak extra memory (bytes) of the work inside the ``with`` block; ``None`` if unknown."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.bytes: int | None = None
        self._base: int | None = None

    def __enter__(self) -> PeakMemory:
        synchronize(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            with contextlib.suppress(OSError):
                Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to VmRSS
            self._base = _cpu_status("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        synchronize(self.device)
        if self.device.type == "cuda":
            peak: int | None = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = _cpu_status("VmHWM")
        if peak is not None and self._base is not None:
            self.bytes = max(peak - self._base, 0)


def mib(n_bytes: int | None) -> float | None:
    return None if n_bytes is None else round(n_bytes / 2**20, 1)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's info messages and warnings off for the runs of the suite."""
    import logging
    import warnings

    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "spt")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)
