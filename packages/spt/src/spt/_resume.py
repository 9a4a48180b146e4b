"""Exact mid-epoch resume: a train loader whose position and random state are in the checkpoint.

Lightning saves the state of a train loader that has ``state_dict``/``load_state_dict`` in
the fit loop's part of the checkpoint, and hands it back when it resumes mid-epoch.
:class:`ResumableLoader` wraps a ``DataLoader`` so that this state is enough to continue
the epoch exactly. It records:

- the random state (torch, CUDA, NumPy, ``random``) right before the epoch's iterator was
  created, which fixes the shuffling order and the worker seeds;
- the random state before the last batch was fetched;
- how many batches it handed out;
- the random state when the checkpoint was written.

On resume it replays the epoch's order, skips the batches already trained on (fetching a
look-ahead batch again under its original random state when Lightning prefetched one, which
it does only for loaders without a length) and continues from the saved random state. The
run is then the same as one never interrupted, with ``num_workers=0`` or non-persistent
workers.

Under DDP each process has its own random states and its own part of the data (the
``DistributedSampler`` Lightning puts in, which :class:`ResumableDataModule` adds before it
wraps the loader). Lightning asks every process for its state but writes rank 0's copy only,
so these states are gathered (:func:`gather_per_rank`) into the checkpoint and each process
takes its own back (:func:`select_own_rank`).

Lightning hands the state over only to a loader it builds after restoring the checkpoint.
When ``configure_optimizers`` reads the run's length, Lightning has built the loader before
the restore; ``spt_optim.TrainingLength.from_trainer`` then makes Lightning build it again
after the restore (see ``spt_optim._lightning.reset_train_loader``), for ``spt.Module`` and
for any LightningModule that uses ``spt_optim.configure_optimizers``.

Examples:
    >>> loader = ResumableLoader(range(4))
    >>> batches = iter(loader)
    >>> next(batches), next(batches)
    (0, 1)
    >>> state = loader.state_dict()
    >>> resumed = ResumableLoader(range(4))
    >>> resumed.load_state_dict(state)
    >>> list(resumed)
    [2, 3]
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any

import lightning as pl
import numpy as np
import torch
import torch.distributed as dist

from spt._lightning import with_distributed_sampler

__all__ = [
    "ResumableDataModule",
    "ResumableLoader",
    "capture_rng",
    "gather_per_rank",
    "restore_rng",
    "select_own_rank",
]

log = logging.getLogger("spt")

PER_RANK = "per_rank"
"""The key under which :func:`gather_per_rank` lists the states of the processes."""


def capture_rng() -> dict[str, Any]:
    """The global random states as plain tensors and tuples (loadable with weights_only=True)."""
    np_state: Any = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (
            str(np_state[0]),
            torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Set the global random states saved by :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()), int(dist.get_world_size())
    return 0, 1


def gather_per_rank(state: Any) -> dict[str, list[Any]]:
    """The ``state`` of every process, in rank order, for a checkpoint that rank 0 writes.

    A collective under DDP: every process calls it at the same point, which holds for the
    ``state_dict`` of a loader or a callback (Lightning builds the checkpoint on every rank
    and writes rank 0's). In one process no communication happens.

    Args:
        state: This process's state: tensors and plain containers (``weights_only`` loads it).

    Returns:
        ``{"per_rank": [state of rank 0, state of rank 1, ...]}``.

    Examples:
        >>> gather_per_rank({"yielded": 3})
        {'per_rank': [{'yielded': 3}]}
    """
    _, world = _rank_and_world()
    if world == 1:
        return {PER_RANK: [state]}
    states: list[Any] = [None] * world
    dist.all_gather_object(states, state)
    return {PER_RANK: states}


def select_own_rank(saved: Any, what: str) -> Any:
    """This process's state out of :func:`gather_per_rank`'s result.

    A checkpoint written by another number of processes gives every process rank 0's state,
    with a warning: the run goes on, but no longer repeats the uninterrupted one exactly.

    Args:
        saved: What :func:`gather_per_rank` returned, or a state saved without it (a
            checkpoint of an earlier spt), which is returned as it is.
        what: What the state is, for the warning (e.g. ``"the train loader's position"``).

    Returns:
        The state this rank saved.

    Examples:
        >>> select_own_rank({"per_rank": [{"yielded": 3}]}, "the train loader's position")
        {'yielded': 3}
    """
    if not isinstance(saved, dict) or set(saved) != {PER_RANK}:
        return saved
    states = saved[PER_RANK]
    rank, world = _rank_and_world()
    if len(states) == world:
        return states[rank]
    if rank == 0:
        log.warning(
            "spt: %s was saved by %d processes and is restored in %d; every process takes "
            "rank 0's, so the resumed run does not repeat the uninterrupted one exactly "
            "(resume with %d processes for that)",
            what,
            len(states),
            world,
            len(states),
        )
    return states[0]


class ResumableLoader:
    """Wraps a train ``DataLoader`` so that Lightning can checkpoint its position.

    Attributes other than the iteration protocol (``dataset``, ``batch_size``, ``sampler``...)
    are those of the wrapped loader.

    Args:
        loader: The DataLoader (or any iterable) to wrap.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self._yielded = 0
        self._exhausted = False
        self._epoch_rng: dict[str, Any] | None = None
        self._fetch_rng: dict[str, Any] | None = None
        self._pending: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        if name == "loader":  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets attributes of the loader (its rank-aware ``worker_init_fn``): they
        # belong to the wrapped loader, which is the one that starts the workers.
        if name == "loader" or name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.loader, name, value)

    def _prefetched(self) -> bool:
        # Lightning fetches one batch ahead only when the loader has no length.
        try:
            len(self.loader)
        except TypeError:
            return True
        return False

    def __iter__(self) -> Iterator[Any]:
        pending, self._pending = self._pending, None
        if pending is not None:
            yield from self._resume(pending)
            return
        self._epoch_rng = capture_rng()
        self._yielded = 0
        self._exhausted = False
        yield from self._run(iter(self.loader))

    def _resume(self, state: dict[str, Any]) -> Iterator[Any]:
        restore_rng(state["epoch_rng"])
        self._epoch_rng = state["epoch_rng"]
        iterator = iter(self.loader)
        trained = state["yielded"] - int(state["prefetched"])
        for _ in range(trained):
            next(iterator)
        self._yielded = trained
        self._exhausted = False
        if state["prefetched"]:  # fetch the look-ahead batch again under its own random state
            restore_rng(state["fetch_rng"])
            first = self._fetch(iterator)
            if first is None:
                return
            yield first[0]
        restore_rng(state["save_rng"])
        yield from self._run(iterator)

    def _fetch(self, iterator: Iterator[Any]) -> tuple[Any] | None:
        self._fetch_rng = capture_rng()
        try:
            batch = next(iterator)
        except StopIteration:
            self._exhausted = True
            return None
        self._yielded += 1
        return (batch,)

    def _run(self, iterator: Iterator[Any]) -> Iterator[Any]:
        while (item := self._fetch(iterator)) is not None:
            yield item[0]

    def state_dict(self) -> dict[str, Any]:
        """Position in the epoch and random states of every process (:func:`gather_per_rank`).

        Lightning calls it on every process when it writes a checkpoint.
        """
        return gather_per_rank(
            {
                "yielded": self._yielded,
                "exhausted": self._exhausted,
                "prefetched": self._prefetched(),
                "epoch_rng": self._epoch_rng,
                "fetch_rng": self._fetch_rng,
                "save_rng": capture_rng(),
            }
        )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Remember where the next epoch iterator starts; loading the same state twice is harmless.

        Each process takes its own part of :meth:`state_dict`. A state saved at the end of an
        epoch (or before its first batch) needs no replay: the next iterator starts a new
        epoch, and :class:`spt.checkpoint.RunCheckpoint` restores the global random state when
        training starts.
        """
        state_dict = select_own_rank(state_dict, "the train loader's position")
        trained = state_dict["yielded"] - int(state_dict.get("prefetched", False))
        try:
            length: int | None = len(self.loader)
        except TypeError:
            length = None
        finished = state_dict["exhausted"] or (length is not None and trained >= length)
        if finished or state_dict["yielded"] == 0:
            self._pending = None
            return
        self._pending = state_dict


class ResumableDataModule(pl.LightningDataModule):
    """A DataModule that serves ``inner``'s loaders, its train loader as a :class:`ResumableLoader`.

    Under DDP the train loader gets the ``DistributedSampler`` that Lightning would put in
    (``Trainer(use_distributed_sampler=True)``, the default) before it is wrapped. Every other
    attribute (``gpu_transform``, ...) and hook is that of ``inner``.
    """

    def __init__(self, inner: pl.LightningDataModule) -> None:
        super().__init__()
        self.inner = inner
        self._train: ResumableLoader | None = None
        self._train_source: Any = None
        from lightning.pytorch.utilities.model_helpers import is_overridden

        hooks = [f"{stage}_dataloader" for stage in ("train", "val", "test", "predict")]
        hooks += ["transfer_batch_to_device", "on_before_batch_transfer", "on_after_batch_transfer"]
        for hook in hooks:
            if not is_overridden(hook, inner, pl.LightningDataModule):
                # Lightning reads a dataloader hook that is not overridden as "no data for this
                # stage", and prefers a batch-transfer hook of the DataModule to the
                # LightningModule's (spt.Module applies its gpu_transform there).
                setattr(self, hook, getattr(super(), hook))

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "_train", "_train_source"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def prepare_data(self) -> None:
        self.inner.prepare_data()

    def setup(self, stage: str) -> None:
        self.inner.trainer = self.trainer  # Lightning attaches the Trainer to this wrapper only
        self.inner.setup(stage)

    def teardown(self, stage: str) -> None:
        self.inner.teardown(stage)

    def train_dataloader(self) -> Any:
        source = self.inner.train_dataloader()
        if self._train is None or source is not self._train_source:
            # Lightning puts its DistributedSampler only into a DataLoader, not into a wrapper
            loader = (
                source if self.trainer is None else with_distributed_sampler(self.trainer, source)
            )
            self._train, self._train_source = ResumableLoader(loader), source
        return self._train

    def val_dataloader(self) -> Any:
        return self.inner.val_dataloader()

    def test_dataloader(self) -> Any:
        return self.inner.test_dataloader()

    def predict_dataloader(self) -> Any:
        return self.inner.predict_dataloader()

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        return self.inner.transfer_batch_to_device(batch, device, dataloader_idx)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.inner.on_before_batch_transfer(batch, dataloader_idx)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.inner.on_after_batch_transfer(batch, dataloader_idx)

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.inner.load_state_dict(state_dict)
