"""Tiny datasets, forward functions and ready-made modules that every package's tests reuse.

Everything here runs on CPU in milliseconds; nothing here is part of a training recipe.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import runpy
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from typing_extensions import override

if TYPE_CHECKING:
    from spt_module.module import Module

__all__ = [
    "DictOutputModule",
    "assert_same_weights",
    "RandomDictDataset",
    "TwoViewImages",
    "classification_forward",
    "FORKSERVER_PRELOAD",
    "encode_views",
    "forkserver_context",
    "free_port",
    "make_dataloader",
    "make_module",
    "make_trainer",
    "rank_environment",
    "run_ranks",
]


class RandomDictDataset(Dataset[dict[str, Any]]):
    """A seeded dataset of dict samples ``{"x": float (dim,), "label": int, "sample_idx": int}``.

    The labels depend on the inputs (the argmax of a random projection), so a model can
    learn them. The projection is drawn after the inputs, so datasets of different ``n``
    have the same first inputs but different labels: a reference computation must use the
    same ``n`` as the DataLoader it is compared with.

    Args:
        n: Number of samples.
        dim: Feature dimension of ``"x"``.
        num_classes: Number of labels.
        seed: Seed of the generator that draws the data.
    """

    def __init__(self, n: int = 64, dim: int = 8, num_classes: int = 3, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, dim, generator=gen)
        projection = torch.randn(dim, num_classes, generator=gen)
        self.label = (self.x @ projection).argmax(dim=1)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"x": self.x[index], "label": int(self.label[index]), "sample_idx": int(index)}


class TwoViewImages(Dataset[list[dict[str, Any]]]):
    """``n`` fixed pairs of random single-channel views, float64, for step-equivalence tests.

    A sample is a list of two view dicts ``{"image": (1, size, size), "label": i % 3}``, as
    ``MultiViewTransform`` yields; :meth:`batches` gives the same views in DataLoader order
    (``shuffle=False``) to a plain PyTorch loop.

    Args:
        n: Number of samples.
        size: Side of the square views.
        seed: Seed of the views.

    Examples:
        >>> data = TwoViewImages(4, size=8)
        >>> [view["image"].shape for view in data[0]]
        [torch.Size([1, 8, 8]), torch.Size([1, 8, 8])]
        >>> first, second = next(data.batches(2))
        >>> first.shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(self, n: int, size: int = 8, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.views = torch.randn(n, 2, 1, size, size, generator=gen, dtype=torch.float64)

    def __len__(self) -> int:
        return self.views.shape[0]

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        return [{"image": v, "label": i % 3} for v in self.views[i]]

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The two views of consecutive batches, ``(B, 1, size, size)`` each."""
        for start in range(0, len(self), batch_size):
            yield (
                self.views[start : start + batch_size, 0],
                self.views[start : start + batch_size, 1],
            )


def make_dataloader(
    n: int = 64,
    dim: int = 8,
    num_classes: int = 3,
    batch_size: int = 16,
    seed: int = 0,
    shuffle: bool = False,
) -> DataLoader[dict[str, Any]]:
    """A DataLoader over :class:`RandomDictDataset` (no workers; seeded shuffling when asked)."""
    dataset = RandomDictDataset(n=n, dim=dim, num_classes=num_classes, seed=seed)
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def classification_forward(self: Any, batch: dict[str, Any], stage: str) -> dict[str, Any]:
    """Supervised forward: ``self.backbone`` then ``self.head``, cross-entropy on ``"label"``.

    Returns:
        ``{"loss", "embedding", "logits", "label"}``.
    """
    embedding = self.backbone(batch["x"])
    logits = self.head(embedding)
    loss = nn.functional.cross_entropy(logits, batch["label"])
    return {"loss": loss, "embedding": embedding, "logits": logits, "label": batch["label"]}


def make_module(dim: int = 8, hidden: int = 16, num_classes: int = 3, **overrides: Any) -> Module:
    """A ready :class:`spt_module.Module` with an MLP backbone and a linear head.

    Args:
        dim: Input dimension.
        hidden: Embedding dimension (output of the backbone).
        num_classes: Number of classes of the head.
        **overrides: Passed to ``Module`` and replace the defaults (``forward``,
            ``backbone``, ``head``, ``optim``, ...).
    """
    from spt_module.module import Module

    kwargs: dict[str, Any] = {
        "forward": classification_forward,
        "backbone": nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden)),
        "head": nn.Linear(hidden, num_classes),
        "optim": {"optimizer": {"type": "SGD", "lr": 0.1}, "scheduler": None},
    }
    kwargs.update(overrides)
    return Module(**kwargs)


class DictOutputModule(pl.LightningModule):
    """A plain LightningModule (automatic optimization) whose steps return dicts.

    Each step returns ``{"loss", "embedding", "label"}`` (plus ``"logits"``), like a
    :class:`spt_module.Module` forward does, so callbacks can be tested without spt_module's
    manual optimization.

    Args:
        dim: Input dimension.
        hidden: Embedding dimension.
        num_classes: Number of classes.
        lr: SGD learning rate.
    """

    def __init__(self, dim: int = 8, hidden: int = 16, num_classes: int = 3, lr: float = 0.1):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.head = nn.Linear(hidden, num_classes)
        self.lr = lr

    def _step(self, batch: dict[str, Any]) -> dict[str, Any]:
        return classification_forward(self, batch, "fit")

    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._step(batch)

    @override
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._step(batch)

    @override
    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._step(batch)

    @override
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._step(batch)

    @override
    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def make_trainer(**overrides: Any) -> pl.Trainer:
    """A CPU Trainer for tests: no logger, no checkpointing, no progress bar, no model summary.

    Defaults: ``max_epochs=1``, ``accelerator="cpu"``, ``devices=1``; anything in
    ``overrides`` replaces them.
    """
    kwargs: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    kwargs.update(overrides)
    return pl.Trainer(**kwargs)


def assert_same_weights(
    ours: nn.Module, theirs: nn.Module, name: str, *, atol: float, rtol: float = 0.0
) -> None:
    """Asserts that two networks of the same structure hold the same state, entry by entry.

    Compares ``ours.state_dict()`` with ``theirs.state_dict()`` in order (the keys may
    differ, as between a Module's backbone and a reference loop's copy of it); a mismatch
    names ``name.<key>`` and the difference.
    """
    mine, other = ours.state_dict(), theirs.state_dict()
    if len(mine) != len(other):
        raise AssertionError(f"{name}: {len(mine)} state entries against {len(other)}")
    for (key, a), b in zip(mine.items(), other.values(), strict=True):
        where = f"{name}.{key}"

        def message(m: str, where: str = where) -> str:
            return f"{where}: {m}"

        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=message)


def encode_views(
    net: nn.Module, x1: torch.Tensor, x2: torch.Tensor, joint: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``net`` on two views: each on its own (a paper's pseudo-code), or in one call on their
    concatenation (``joint``, as spt's forward functions do, so batch norm sees both)."""
    if not joint:
        return net(x1), net(x2)
    out = net(torch.cat([x1, x2]))
    return out[: x1.shape[0]], out[x1.shape[0] :]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago, for a process group to meet on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rank_environment(rank: int, world: int, port: int) -> dict[str, str]:
    """The environment of rank `rank` of `world` processes on this machine, as torchrun or
    srun set it (Lightning reads it and starts no launcher of its own), one thread each."""
    return {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(world),
        "NODE_RANK": "0",
        "RANK": str(rank),
        "LOCAL_RANK": str(rank),
        "OMP_NUM_THREADS": "1",
    }


FORKSERVER_PRELOAD = ["torch", "torch.distributed", "lightning", "spt_losses", "spt_module"]
"""What the fork server of the multi-process tests imports once (absent packages are skipped)."""


def forkserver_context() -> multiprocessing.context.ForkServerContext:
    """The ``forkserver`` context whose server imports :data:`FORKSERVER_PRELOAD` once.

    A rank forked from it starts with torch and Lightning imported (10-30 s of CPU per fresh
    interpreter on a 2-core machine), and from a single-threaded process, so forking is safe.
    The preload list only counts before the session's first forkserver process starts.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(FORKSERVER_PRELOAD)
    return context


def _run_script(script: str, args: list[str], env: dict[str, str], log: str) -> None:
    """In a forked rank: ``python script *args`` with ``env``, its output into ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 (the rank's stdout)
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(env)
    torch.set_num_threads(int(env.get("OMP_NUM_THREADS", "1")))
    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).parent))  # as `python script` puts its folder first
    runpy.run_path(script, run_name="__main__")


def run_ranks(script: Path, *args: str, world: int = 2, timeout: float = 240) -> None:
    """Runs `python script *args` as `world` ranks started on their own (each with the
    environment torchrun would give it); raises AssertionError with the log of the first
    rank that fails or outlives `timeout` s. The ranks are forked from
    :func:`forkserver_context`'s server rather than started as new interpreters."""
    port = free_port()
    context = forkserver_context()
    with tempfile.TemporaryDirectory() as logs:
        paths = [Path(logs) / f"rank{rank}.log" for rank in range(world)]
        processes = [
            context.Process(
                target=_run_script,
                args=(str(script), list(args), rank_environment(rank, world, port), str(path)),
            )
            for rank, path in enumerate(paths)
        ]
        for process in processes:
            process.start()
        deadline = time.monotonic() + timeout
        try:
            for rank, process in enumerate(processes):
                process.join(max(0.0, deadline - time.monotonic()))
                if process.exitcode is None:
                    raise AssertionError(f"rank {rank} still runs after {timeout} s")
                if process.exitcode != 0:
                    log = paths[rank].read_text(errors="replace")[-4000:]
                    raise AssertionError(f"rank {rank} failed ({process.exitcode}):\n{log}")
        finally:
            for process in processes:
                if process.is_alive():
                    process.kill()
                process.join()
