"""Under DDP (2 gloo processes on CPU) CLIPLoss is the loss of the concatenated batch.

Each rank contrasts its images with the texts of every rank and its texts with every rank's
images. The mean over ranks of the values is the global loss; DDP's average of the towers'
weight gradients and of the temperature's gradient is the global gradient; the gradient of
the inputs on rank r is `world` times the global gradient of its rows (the gather sums the
gradients of every rank's copy).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))
import _clip_ddp_worker as worker
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
    out_dir = tmp_path_factory.mktemp("clip_ddp")  # fresh per run: holds the file store
    return spawn_gloo(worker.compute_cases, out_dir, WORLD)


@pytest.fixture(scope="module")
def single() -> Results:
    return worker.compute_cases(0, 1)


def _tolerance(key: str) -> dict[str, float]:
    if key.endswith("float64"):
        return {"rtol": 0.0, "atol": 1e-10}
    return {"rtol": 1e-5, "atol": 1e-5}  # gradients reach ~15 at the clamped scale of 100


@pytest.mark.parametrize("key", KEYS)
def test_clip_ddp_matches_single_process(key: str, ranks: list[Results], single: Results) -> None:
    tol = _tolerance(key)
    expected = single[key]
    values = torch.stack([r[key]["loss"] for r in ranks])
    assert values.dtype == expected["loss"].dtype
    torch.testing.assert_close(values.mean(), expected["loss"], **tol)
    for name in ("image_w_grad", "text_w_grad", "log_scale_grad"):  # what DDP averages
        averaged = torch.stack([r[key][name] for r in ranks]).mean(dim=0)
        torch.testing.assert_close(averaged, expected[name], **tol, msg=name)
    for name in ("image_grad", "text_grad"):
        full = expected[name]  # (B_global, dim)
        local = full.shape[0] // WORLD
        for r, result in enumerate(ranks):
            rows = WORLD * full[r * local : (r + 1) * local]
            torch.testing.assert_close(result[key][name], rows, **tol, msg=f"{name} rank {r}")


def test_clamped_scale_gives_the_temperature_no_gradient_on_any_rank(ranks: list[Results]) -> None:
    for result in ranks:
        assert float(result["clamped_scale_float64"]["log_scale_grad"]) == 0.0
        assert float(result["initial_scale_float64"]["log_scale_grad"]) != 0.0
