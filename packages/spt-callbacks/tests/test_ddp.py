"""Two gloo processes under Lightning DDP: queues hold every rank's entries, kNN and probe agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spt_callbacks import knn_predict
from spt_module.testing import DictOutputModule, make_dataloader, run_ranks

WORKER = Path(__file__).with_name("_ddp_worker.py")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    run_ranks(WORKER, str(out))
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.mark.slow
def test_ddp_queue_holds_every_ranks_entries_in_step_order(ranks: list[dict]) -> None:
    # 64 samples, 2 ranks, batches of 8: 4 steps, each pushing rank 0's then rank 1's batch.
    expected_embedding = torch.cat(
        [
            torch.cat([r0, r1])
            for r0, r1 in zip(*(r["pushed_embedding"] for r in ranks), strict=True)
        ]
    )
    expected_label = torch.cat(
        [torch.cat([r0, r1]) for r0, r1 in zip(*(r["pushed_label"] for r in ranks), strict=True)]
    )
    for result in ranks:
        assert result["total"] == 64
        torch.testing.assert_close(result["queue_embedding"], expected_embedding)
        assert torch.equal(result["queue_label"], expected_label)
    everything = make_dataloader(n=64).dataset.label
    assert sorted(expected_label.tolist()) == sorted(everything.tolist())


@pytest.mark.slow
def test_ddp_knn_accuracy_is_global_and_matches_queue(ranks: list[dict]) -> None:
    module = DictOutputModule(hidden=16)
    module.load_state_dict(ranks[0]["module"])
    val = make_dataloader(n=32, seed=1).dataset
    with torch.no_grad():
        scores = knn_predict(
            module.backbone(val.x), ranks[0]["queue_embedding"], ranks[0]["queue_label"], 3, k=3
        )
    expected = (scores.argmax(1) == val.label).float().mean()
    for result in ranks:
        torch.testing.assert_close(result["knn_top1"], expected)
        torch.testing.assert_close(result["rankme"], ranks[0]["rankme"])


@pytest.mark.slow
def test_ddp_probe_identical_on_every_rank(ranks: list[dict]) -> None:
    torch.testing.assert_close(ranks[0]["probe"], ranks[1]["probe"])
    torch.testing.assert_close(ranks[0]["probe_val_top1"], ranks[1]["probe_val_top1"])
