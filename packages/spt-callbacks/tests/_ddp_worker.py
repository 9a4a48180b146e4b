"""One rank of the 2-process DDP test (run by test_ddp.py as a script, never collected).

Usage: ``python _ddp_worker.py OUT_DIR``, with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and
MASTER_PORT set, so Lightning joins the process group instead of launching processes.
Writes ``OUT_DIR/rank{RANK}.pt`` with what the test compares.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

import lightning as pl
import torch
from torch import nn

from spt_callbacks import OnlineKNN, OnlineProbe, RankMe, queue_registry
from spt_module.testing import DictOutputModule, make_dataloader, make_trainer


class RecordPushed(pl.Callback):
    """Keep this rank's training embeddings and labels, batch by batch."""

    def __init__(self) -> None:
        self.embeddings: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.embeddings.append(outputs["embedding"].detach().clone())
        self.labels.append(outputs["label"].detach().clone())


def main(out_dir: str) -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    rank = int(os.environ["RANK"])
    torch.manual_seed(0)
    module = DictOutputModule(hidden=16)
    probe = OnlineProbe(module, name="probe", probe=nn.Linear(16, 3))
    knn = OnlineKNN(name="knn", input="embedding", target="label", queue_length=64, k=3)
    rank_me = RankMe(name="rank", input="embedding", queue_length=64, every_n_steps=2)
    record = RecordPushed()
    trainer = make_trainer(
        callbacks=[probe, knn, rank_me, record], strategy="ddp", devices=2, max_epochs=1
    )
    trainer.fit(module, make_dataloader(n=64, batch_size=8), make_dataloader(n=32, seed=1))
    registry = queue_registry(trainer)
    torch.save(
        {
            "queue_embedding": torch.cat(registry.queues["embedding"].recent()),
            "queue_label": torch.cat(registry.queues["label"].recent()),
            "total": registry.queues["embedding"].total,
            "pushed_embedding": record.embeddings,
            "pushed_label": record.labels,
            "probe": probe.probe.state_dict(),
            "module": module.state_dict(),
            "knn_top1": trainer.callback_metrics["knn/val/top1"],
            "probe_val_top1": trainer.callback_metrics["probe/val/top1"],
            "rankme": trainer.callback_metrics["rank/rankme"],
        },
        os.path.join(out_dir, f"rank{rank}.pt"),
    )


if __name__ == "__main__":
    main(sys.argv[1])
