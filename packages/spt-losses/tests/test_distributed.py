"""Under DDP (2 gloo processes on CPU) every loss is the loss of the global batch.

One spawned run computes all cases; each test compares one loss with a single process on
the concatenated batch. Gathering with gradient sums, over ranks, the gradients that reach
each rank's rows, so on rank r the gradient of its inputs is `world * dL/dx_r`; DDP then
averages parameter gradients over ranks, which gives exactly `dL/dW` of the global batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))
import _spt_losses_ddp_worker as worker
from _gloo import spawn_gloo

WORLD = 2
CASES = [
    "ntxent_two_views",
    "ntxent_three_views_queue",
    "negative_cosine",
    "vicreg",
    "barlow_twins",
    "dino",
    "mae",
]
FLOAT64_CASES = ["ntxent_two_views_float64", "barlow_twins_float64"]
SAME_VALUE_ON_EVERY_RANK = {"vicreg", "barlow_twins", "barlow_twins_float64"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, dict[str, Tensor]]]:
    out_dir = tmp_path_factory.mktemp("ddp")  # fresh per run: holds the file store
    return spawn_gloo(worker.compute_cases, out_dir, WORLD)


@pytest.fixture(scope="module")
def single() -> dict[str, dict[str, Tensor]]:
    return worker.compute_cases(0, 1)


@pytest.mark.parametrize("case", CASES + FLOAT64_CASES)
def test_mean_loss_over_ranks_is_the_global_loss(
    case: str, ranks: list[dict[str, dict[str, Tensor]]], single: dict[str, dict[str, Tensor]]
) -> None:
    values = torch.stack([r[case]["loss"] for r in ranks])
    torch.testing.assert_close(values.mean(), single[case]["loss"], rtol=1e-5, atol=1e-6)
    if case in SAME_VALUE_ON_EVERY_RANK:
        for value in values:
            torch.testing.assert_close(value, single[case]["loss"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES + FLOAT64_CASES)
def test_ddp_averaged_weight_gradient_is_the_global_gradient(
    case: str, ranks: list[dict[str, dict[str, Tensor]]], single: dict[str, dict[str, Tensor]]
) -> None:
    averaged = torch.stack([r[case]["w_grad"] for r in ranks]).mean(dim=0)
    torch.testing.assert_close(averaged, single[case]["w_grad"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES + FLOAT64_CASES)
def test_input_gradient_is_world_times_the_global_slice(
    case: str, ranks: list[dict[str, dict[str, Tensor]]], single: dict[str, dict[str, Tensor]]
) -> None:
    full = single[case]["x_grad"]  # (V, B_global, ...)
    local = full.shape[1] // WORLD
    for r, result in enumerate(ranks):
        expected = WORLD * full[:, r * local : (r + 1) * local]
        torch.testing.assert_close(result[case]["x_grad"], expected, rtol=1e-5, atol=1e-6)


def test_dino_center_is_averaged_across_ranks(
    ranks: list[dict[str, dict[str, Tensor]]], single: dict[str, dict[str, Tensor]]
) -> None:
    for result in ranks:
        torch.testing.assert_close(
            result["dino_center"]["center"], single["dino_center"]["center"], rtol=1e-6, atol=1e-7
        )


@pytest.mark.parametrize("case", FLOAT64_CASES)
def test_float64_gathers_keep_float64_and_match_the_global_batch_to_1e_12(
    case: str, ranks: list[dict[str, dict[str, Tensor]]], single: dict[str, dict[str, Tensor]]
) -> None:
    values = torch.stack([r[case]["loss"] for r in ranks])
    assert values.dtype == torch.float64
    torch.testing.assert_close(values.mean(), single[case]["loss"], rtol=1e-12, atol=1e-12)
    averaged = torch.stack([r[case]["w_grad"] for r in ranks]).mean(dim=0)
    assert averaged.dtype == torch.float64
    torch.testing.assert_close(averaged, single[case]["w_grad"], rtol=1e-12, atol=1e-12)
