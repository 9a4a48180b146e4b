"""Under DDP (2 gloo processes on CPU) SwAV's codes and loss are those of the global batch.

Sinkhorn-Knopp all-reduces its sums over samples, so each rank's codes are its rows of the
global batch's codes; a queue filled by a gathered MemoryBank (the same on every rank) takes
part in the normalisation once. The loss on a rank is the mean over its samples, so the mean
over ranks, DDP's average of the weight gradients, and `world *` the global gradient of each
rank's inputs are those of one process on the concatenated batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))
import _swav_ddp_worker as worker
from _gloo import spawn_gloo

WORLD = 2
LOSS_CASES = ["loss", "loss_queue", "loss_float32"]
Results = dict[str, dict[str, Tensor]]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[Results]:
    out_dir = tmp_path_factory.mktemp("swav_ddp")
    return spawn_gloo(worker.compute_swav, out_dir, WORLD)


@pytest.fixture(scope="module")
def single() -> Results:
    return worker.compute_swav(0, 1)


def _tolerance(case: str) -> dict[str, float]:
    return {"rtol": 1e-5, "atol": 1e-6} if case.endswith("float32") else {"rtol": 1e-10, "atol": 0}


@pytest.mark.parametrize("case", ["codes", "codes_shared"])
def test_sinkhorn_ddp_codes_are_the_rows_of_the_global_codes(
    case: str, ranks: list[Results], single: Results
) -> None:
    gathered = torch.cat([r[case]["codes"] for r in ranks])
    torch.testing.assert_close(gathered, single[case]["codes"], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", LOSS_CASES)
def test_swav_ddp_matches_single_process(case: str, ranks: list[Results], single: Results) -> None:
    tol = _tolerance(case)
    mean_loss = torch.stack([r[case]["loss"] for r in ranks]).mean()
    torch.testing.assert_close(mean_loss, single[case]["loss"], **tol)
    for key in ("w_grad", "prototype_grad"):  # what DDP averages
        averaged = torch.stack([r[case][key] for r in ranks]).mean(dim=0)
        torch.testing.assert_close(averaged, single[case][key], **tol)
    full = single[case]["x_grad"]  # (V, B_global, IN_DIM)
    local = full.shape[1] // WORLD
    for r, result in enumerate(ranks):
        expected = WORLD * full[:, r * local : (r + 1) * local]
        torch.testing.assert_close(result[case]["x_grad"], expected, **tol)
