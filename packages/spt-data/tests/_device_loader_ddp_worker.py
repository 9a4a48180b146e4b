"""One rank of the 2-process DeviceLoader test (run by test_device_loader_ddp.py, never collected).

Usage: ``python _device_loader_ddp_worker.py OUT_DIR``, with RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT set, so Lightning joins the process group instead of launching
processes. Writes ``OUT_DIR/rank{RANK}.pt``: the sample indices of every training and
validation batch this rank saw, and the loader's length.
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

from spt_data import DataModule, DeviceLoader

N, BATCH, EPOCHS = 20, 5, 2


class Recorder(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.train_seen: list[list[int]] = []
        self.val_seen: list[list[int]] = []

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.train_seen.append(batch["sample_idx"].tolist())
        return self.layer(batch["x"]).pow(2).mean()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.val_seen.append(batch["sample_idx"].tolist())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def main(out_dir: str) -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    data = {"x": torch.randn(N, 2, generator=torch.Generator().manual_seed(0))}
    train = DeviceLoader(data, BATCH, seed=3)
    val = DeviceLoader({"x": data["x"][:7]}, 2, shuffle=False, drop_last=False)
    module = Recorder()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=EPOCHS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=DataModule(train=train, val=val))
    torch.save(
        {
            "train_seen": module.train_seen,
            "val_seen": module.val_seen,
            "length": len(train),
        },
        os.path.join(out_dir, f"rank{trainer.global_rank}.pt"),
    )


if __name__ == "__main__":
    main(sys.argv[1])
