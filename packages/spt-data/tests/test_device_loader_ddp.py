"""DeviceLoader under Lightning DDP (2 gloo processes): disjoint shards, each sample once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from spt_data.device_loader import EpochOrder
from spt_module.testing import run_ranks

WORKER = Path(__file__).with_name("_device_loader_ddp_worker.py")
N, BATCH, EPOCHS, SEED = 20, 5, 2, 3  # as in the worker


def flat(lists: list[list[int]]) -> list[int]:
    return [i for items in lists for i in items]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("device_loader_ddp")
    run_ranks(WORKER, str(out))
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.mark.slow
def test_ddp_ranks_take_disjoint_shards_covering_each_epoch_once(ranks: list[dict]) -> None:
    batches_per_epoch = N // 2 // BATCH
    assert [r["length"] for r in ranks] == [batches_per_epoch] * 2
    for epoch in range(EPOCHS):
        window = slice(epoch * batches_per_epoch, (epoch + 1) * batches_per_epoch)
        seen = [flat(r["train_seen"][window]) for r in ranks]
        assert sorted(seen[0] + seen[1]) == list(range(N)), f"epoch {epoch}"
        order = EpochOrder(N, shuffle=True, seed=SEED, drop_last=True).order(epoch)
        for rank in range(2):
            assert seen[rank] == order[rank::2].tolist(), f"epoch {epoch}, rank {rank}"


@pytest.mark.slow
def test_ddp_validation_pads_to_equal_shards(ranks: list[dict]) -> None:
    # 7 samples, drop_last=False: 4 per rank (sample 0 twice), in batches of 2.
    per_epoch = [[flat(r["val_seen"][e * 2 : (e + 1) * 2]) for r in ranks] for e in range(EPOCHS)]
    for rank0, rank1 in per_epoch:
        assert (rank0, rank1) == ([0, 2, 4, 6], [1, 3, 5, 0])
        assert Counter(rank0 + rank1) == {0: 2, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1}
