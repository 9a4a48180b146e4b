"""Under DDP (2 gloo processes) MoCo v2's queue and MoCo v3's loss are those of the global batch.

Two steps on each rank's slice: the mean of the rank losses is the single-process loss, the
DDP-averaged encoder gradient is its gradient, and every rank's queue holds the gathered keys
that one process holds after the same steps.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))
import _queue_ddp_worker as worker

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]
TOL = {"rtol": 1e-12, "atol": 1e-12}

Results = dict[str, dict[str, Tensor]]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[Results]:
    return worker.spawn(tmp_path_factory.mktemp("moco_ddp"), "moco")


@pytest.fixture(scope="module")
def single() -> Results:
    return worker.compute("moco", 0, 1)


def _assert_matches(case: str, ranks: list[Results], single: Results) -> None:
    for step in range(worker.STEPS):
        losses = torch.stack([r[case][f"loss{step}"] for r in ranks])
        torch.testing.assert_close(losses.mean(), single[case][f"loss{step}"], **TOL)
        grads = torch.stack([r[case][f"w_grad{step}"] for r in ranks])
        torch.testing.assert_close(grads.mean(dim=0), single[case][f"w_grad{step}"], **TOL)
        if f"bank{step}" in single[case]:
            for r in ranks:
                torch.testing.assert_close(r[case][f"bank{step}"], single[case][f"bank{step}"])


def test_moco_v2_ddp_matches_single_process(ranks: list[Results], single: Results) -> None:
    _assert_matches("moco_v2", ranks, single)


def test_moco_v2_symmetric_ddp_matches_single_process(
    ranks: list[Results], single: Results
) -> None:
    _assert_matches("moco_v2_symmetric", ranks, single)


def test_moco_v3_ddp_matches_single_process(ranks: list[Results], single: Results) -> None:
    _assert_matches("moco_v3", ranks, single)
