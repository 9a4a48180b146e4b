"""Under DDP (2 gloo processes on CPU) SupConLoss is the loss of the concatenated batch.

The mean over ranks of the values is the global loss, DDP's average of the weight
gradients is the global gradient, and the input gradient on rank r is `world` times the
global gradient of its rows (the gather sums the gradients of every rank's copy).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))
import _supcon_ddp_worker as worker
from _gloo import spawn_gloo

WORLD = 2
KEYS = sorted(f"{name}_{dtype}" for name in worker.CASES for dtype in ("float32", "float64"))
Results = dict[str, dict[str, Tensor]]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[Results]:
    out_dir = tmp_path_factory.mktemp("supcon_ddp")  # fresh per run: holds the file store
    return spawn_gloo(worker.compute_cases, out_dir, WORLD)


@pytest.fixture(scope="module")
def single() -> Results:
    return worker.compute_cases(0, 1)


def _tolerance(key: str) -> dict[str, float]:
    return (
        {"rtol": 1e-12, "atol": 1e-12} if key.endswith("float64") else {"rtol": 1e-5, "atol": 1e-6}
    )


@pytest.mark.parametrize("key", KEYS)
def test_supcon_ddp_matches_single_process(key: str, ranks: list[Results], single: Results) -> None:
    tol = _tolerance(key)
    values = torch.stack([r[key]["loss"] for r in ranks])
    assert values.dtype == single[key]["loss"].dtype
    torch.testing.assert_close(values.mean(), single[key]["loss"], **tol)
    averaged = torch.stack([r[key]["w_grad"] for r in ranks]).mean(dim=0)
    torch.testing.assert_close(averaged, single[key]["w_grad"], **tol)
    full = single[key]["x_grad"]  # (V, B_global, IN_DIM)
    local = full.shape[1] // WORLD
    for r, result in enumerate(ranks):
        expected = WORLD * full[:, r * local : (r + 1) * local]
        torch.testing.assert_close(result[key]["x_grad"], expected, **tol)
