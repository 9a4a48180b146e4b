"""One rank of the 2-process export test (run by test_embed_ddp.py as a script, never collected).

Usage: ``python _embed_ddp_worker.py OUT_DIR``, with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR
and MASTER_PORT set, so Lightning joins the process group instead of launching processes.
Exports 37 samples twice: with the sampler Lightning puts in (no padding) into
``OUT_DIR/lightning``, and with a ``DistributedSampler`` that pads to 38 into
``OUT_DIR/padded``; then fits one epoch with a ``LatentMap`` into ``OUT_DIR/maps``. Writes
``OUT_DIR/rank{RANK}.json`` with the rows each rank saw and kept and the maps it drew.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning as pl
import torch
from torch.utils.data import DataLoader, DistributedSampler

from spt.embed import EmbeddingWriter
from spt.plots import LatentMap
from spt_module.testing import DictOutputModule, RandomDictDataset, make_trainer

N = 37


class CountRows(pl.Callback):
    """The sample indices this rank's predict steps saw."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.seen.extend(int(i) for i in batch["sample_idx"])


def export(out: Path, padded: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    module = DictOutputModule(hidden=6)
    dataset = RandomDictDataset(n=N)
    sampler = DistributedSampler(dataset, shuffle=False) if padded else None
    loader = DataLoader(dataset, batch_size=4, sampler=sampler)
    writer = EmbeddingWriter(out, shard_size=3)
    count = CountRows()
    trainer = make_trainer(
        callbacks=[writer, count], strategy="ddp", devices=2, use_distributed_sampler=not padded
    )
    trainer.predict(module, loader, return_predictions=False)
    return {"seen": count.seen, "written": writer.num_new}


def latent_map(out: Path) -> dict[str, Any]:
    """One epoch of fit with a LatentMap over 2 x 13 validation samples."""
    torch.manual_seed(0)
    latent = LatentMap(dirpath=out, use_umap=False)
    trainer = make_trainer(callbacks=[latent], strategy="ddp", devices=2)
    val = DataLoader(RandomDictDataset(n=26, seed=1), batch_size=4)
    trainer.fit(DictOutputModule(hidden=6), DataLoader(RandomDictDataset(n=16), batch_size=4), val)
    return {"written": [str(p) for p in latent.written], "num_points": latent.num_points}


def main(out_dir: str) -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    rank = int(os.environ["RANK"])
    out = Path(out_dir)
    result = {
        "lightning": export(out / "lightning", padded=False),
        "padded": export(out / "padded", padded=True),
        "latent_map": latent_map(out / "maps"),
    }
    (out / f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
