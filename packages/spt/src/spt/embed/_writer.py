"""``EmbeddingWriter``: chosen keys of the predict outputs to shards on disk, each sample once."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from typing_extensions import override

from spt.embed._shards import (
    check_format,
    complete_shards,
    read_shard,
    write_manifest,
    write_shard,
)

log = logging.getLogger("spt")

__all__ = ["EmbeddingWriter", "read_step_value", "step_keys"]

SAMPLE_IDX = "sample_idx"


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes, torch.Tensor)):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def step_keys(value: Any) -> list[str]:
    """The keys of a step output or batch (a dict, or a list of view dicts), sorted."""
    return sorted({str(k) for d in _dicts(value) for k in d})


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach()
        if value.dtype == torch.bfloat16:  # NumPy has no bfloat16
            value = value.float()
        array: np.ndarray = value.cpu().numpy()
        return array
    return np.asarray(value)


def read_step_value(outputs: Any, batch: Any, key: str) -> np.ndarray | None:
    """``key`` of a step's outputs, else of its batch, as a NumPy array (``None``: in neither).

    A list of view dicts gives the concatenation of the views' values along the first axis.
    """
    for source in (outputs, batch):
        values = [d[key] for d in _dicts(source) if key in d]
        if values:
            parts = [_to_numpy(v) for v in values]
            return parts[0] if len(parts) == 1 else np.concatenate(parts)
    return None


def _gather(trainer: pl.Trainer, obj: Any) -> list[Any]:
    """Every rank's ``obj`` (a list of one item in a single process)."""
    if trainer.world_size == 1 or not torch.distributed.is_initialized():
        return [obj]
    out: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


class EmbeddingWriter(BasePredictionWriter):
    """Write chosen keys of ``Trainer.predict`` outputs to ``dirpath`` in shards, with a manifest.

    Each key is read from the ``predict_step`` output, else from the batch (``label`` and
    ``sample_idx`` usually come from there). ``sample_idx`` is always written: it identifies
    the rows. Under DDP every rank writes its own shards (``r{rank}-{n}``); at the end of the
    epoch the ranks compare the indices they wrote, a rank drops the rows a lower rank also
    wrote (the padding of a ``DistributedSampler``), and rank 0 writes ``manifest.json``
    after a barrier. A rerun into the same folder keeps every complete shard and writes only
    the samples that are not in one; nothing is deleted. Read the result with
    :func:`spt.embed.read_embeddings`.

    Call ``trainer.predict(..., return_predictions=False)`` so the outputs are not also
    kept in memory.

    Args:
        dirpath: The export folder.
        keys: Keys to write (``sample_idx`` is added when missing).
        shard_size: Rows per shard file (the last shard of each rank may hold fewer).
        format: ``"npy"`` (one ``.npy`` per key and shard), ``"safetensors"`` (needs the
            safetensors package) or ``"parquet"`` (needs pyarrow, which ``datasets`` brings).

    Raises:
        ValueError: If ``keys`` is empty, ``shard_size`` is not positive or ``format`` is
            unknown; at the first batch, if a key is neither in the outputs nor in the batch
            (the message lists both), or keys have different numbers of rows.

    Examples:
        >>> writer = EmbeddingWriter("embeddings/val", keys=("embedding", "label"))
        >>> trainer = pl.Trainer(callbacks=[writer])  # doctest: +SKIP
        >>> trainer.predict(module, loader, return_predictions=False)  # doctest: +SKIP
    """

    def __init__(
        self,
        dirpath: str | Path,
        keys: Sequence[str] = ("embedding", "label", SAMPLE_IDX),
        shard_size: int = 4096,
        format: str = "npy",
    ) -> None:
        super().__init__(write_interval="batch")
        keys = [str(k) for k in ([keys] if isinstance(keys, str) else keys)]
        if not keys:
            raise ValueError("EmbeddingWriter: keys is empty; name the keys to write")
        if int(shard_size) < 1:
            raise ValueError(f"EmbeddingWriter: shard_size must be >= 1, got {shard_size}")
        check_format(format)
        self.dirpath = Path(dirpath)
        self.keys = [*keys, SAMPLE_IDX] if SAMPLE_IDX not in keys else keys
        self.shard_size = int(shard_size)
        self.format = format
        self._reset()

    def _reset(self) -> None:
        self._done: set[int] = set()  # sample_idx already in a shard on disk
        self._buffer: dict[str, list[np.ndarray]] = {k: [] for k in self.keys}
        self._buffered = 0
        self._next = 0
        self._rank = 0
        self._written: dict[str, dict[str, Any]] = {}  # this run's shards, by name
        self.num_new = 0

    def __repr__(self) -> str:
        return (
            f"EmbeddingWriter({str(self.dirpath)!r}, keys={self.keys}, "
            f"shard_size={self.shard_size}, format={self.format!r})"
        )

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._reset()
        self._rank = trainer.global_rank
        prefix = f"r{self._rank}-"
        for marker in complete_shards(self.dirpath):
            if marker["format"] != self.format:
                raise ValueError(
                    f"EmbeddingWriter: {self.dirpath} holds {marker['format']!r} shards; this "
                    f"writer has format={self.format!r}; use the same format or another folder"
                )
            idx = read_shard(self.dirpath, marker, keys=[SAMPLE_IDX])[SAMPLE_IDX]
            self._done.update(int(i) for i in idx)
        names = [p.name.lstrip(".") for p in (self.dirpath / "shards").glob("*")]  # .tmp too
        stems = [n[len(prefix) :].split(".")[0] for n in names if n.startswith(prefix)]
        numbers = [int(stem) for stem in stems if stem.isdigit()]
        self._next = max(numbers, default=-1) + 1  # never reuse a name, complete or not
        if self._done:
            log.info(
                "EmbeddingWriter: %d samples already in %s; writing only the others",
                len(self._done),
                self.dirpath,
            )

    def _read(self, prediction: Any, batch: Any, indices: Any) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for key in self.keys:
            value = read_step_value(prediction, batch, key)
            if value is None and key == SAMPLE_IDX and indices is not None:
                value = np.asarray(list(indices), dtype=np.int64)
            if value is None:
                raise KeyError(
                    f"EmbeddingWriter: key {key!r} is not in the predict outputs (keys: "
                    f"{step_keys(prediction)}) nor in the batch (keys: {step_keys(batch)}); set "
                    "keys= to some of these"
                )
            arrays[key] = value
        arrays[SAMPLE_IDX] = arrays[SAMPLE_IDX].astype(np.int64).reshape(-1)
        rows = {k: (v.shape[0] if v.ndim else 1) for k, v in arrays.items()}
        if len(set(rows.values())) > 1:
            raise ValueError(
                f"EmbeddingWriter: the keys have different numbers of rows {rows}; every key "
                "must have one row per sample (embed single-view batches)"
            )
        return arrays

    @override
    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Keep the batch's new rows and write every full shard."""
        arrays = self._read(prediction, batch, batch_indices)
        keep = np.array([int(i) not in self._done for i in arrays[SAMPLE_IDX]], dtype=bool)
        if not keep.any():
            return
        self._done.update(int(i) for i in arrays[SAMPLE_IDX][keep])
        for key in self.keys:
            self._buffer[key].append(arrays[key][keep])
        self._buffered += int(keep.sum())
        while self._buffered >= self.shard_size:
            self._flush(self.shard_size)

    def _flush(self, rows: int) -> None:
        joined = {k: np.concatenate(v) for k, v in self._buffer.items()}
        shard = {k: v[:rows] for k, v in joined.items()}
        self._buffer = {k: [v[rows:]] for k, v in joined.items()}
        self._buffered -= rows
        name = f"r{self._rank}-{self._next:06d}"
        self._next += 1
        self._written[name] = {"arrays_idx": shard[SAMPLE_IDX].copy()}
        write_shard(self.dirpath, name, shard, self.format)
        self.num_new += rows

    @override
    def write_on_epoch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        """Not used: shards are written per batch and finished in ``on_predict_epoch_end``."""

    @override
    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write the last shard, drop rows a lower rank also wrote, then the manifest."""
        if self._buffered:
            self._flush(self._buffered)
        mine = {name: info["arrays_idx"] for name, info in self._written.items()}
        everyone = _gather(trainer, mine)
        lower: set[int] = set()
        for rank_shards in everyone[: self._rank]:
            for idx in rank_shards.values():
                lower.update(int(i) for i in idx)
        if lower:
            self._drop(lower)
        trainer.strategy.barrier("EmbeddingWriter")
        if trainer.is_global_zero:
            manifest = write_manifest(self.dirpath, complete_shards(self.dirpath), self.keys)
            log.info(
                "EmbeddingWriter: %d samples in %d shards in %s",
                manifest["num_samples"],
                len(manifest["shards"]),
                self.dirpath,
            )
        trainer.strategy.barrier("EmbeddingWriter manifest")

    def _drop(self, written_by_lower_rank: set[int]) -> None:
        """Rewrite this run's shards without the rows a lower rank wrote."""
        for name, info in self._written.items():
            idx = info["arrays_idx"]
            keep = np.array([int(i) not in written_by_lower_rank for i in idx], dtype=bool)
            if keep.all():
                continue
            marker = next(m for m in complete_shards(self.dirpath) if m["name"] == name)
            arrays = read_shard(self.dirpath, marker)
            write_shard(self.dirpath, name, {k: v[keep] for k, v in arrays.items()}, self.format)
            self.num_new -= int((~keep).sum())
