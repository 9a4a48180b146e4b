"""Under DDP (2 gloo processes) MoCo v2's queue and MoCo v3's loss are those of the global batch.

Two steps on each rank's slice: the mean of the rank losses is the single-process loss, the
DDP-averaged encoder gradient is its gradient, and every rank's queue holds the gathered keys
that one process holds after the same steps.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch.distributed as dist
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))
import _queue_ddp_worker as worker

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]

Results = dict[str, dict[str, Tensor]]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[Results]:
    return worker.spawn(tmp_path_factory.mktemp("moco_ddp"), "moco")


@pytest.fixture(scope="module")
def single() -> Results:
    return worker.compute("moco", 0, 1)


def test_moco_v2_ddp_matches_single_process(ranks: list[Results], single: Results) -> None:
    worker.assert_matches("moco_v2", ranks, single)


def test_moco_v2_symmetric_ddp_matches_single_process(
    ranks: list[Results], single: Results
) -> None:
    worker.assert_matches("moco_v2_symmetric", ranks, single)


def test_moco_v3_ddp_matches_single_process(ranks: list[Results], single: Results) -> None:
    worker.assert_matches("moco_v3", ranks, single)
