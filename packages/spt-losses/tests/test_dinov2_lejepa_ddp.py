"""Under DDP (2 gloo processes on CPU) DINOv2's and LeJEPA's cross-rank terms are those of
the global batch.

- Sinkhorn-Knopp (DINOv2's teacher centring) normalises over every rank's samples, also when
  the ranks hold different numbers of them (masked patches), or none.
- The iBOT patch loss on a rank is the mean over its images, so the mean over ranks is the
  global loss; its centre is averaged over ranks.
- SIGReg gathers the characteristic-function sums with gradient: its value is the global
  batch's on every rank, whatever the split of the batch.

On rank r the gradient of its inputs is `world * dL/dx_r` of the global loss (gathers sum
the ranks' gradients); DDP then averages the weight gradients, which gives the global one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))
import _dinov2_lejepa_ddp_worker as worker
from _gloo import spawn_gloo

WORLD = 2
TOL = {"rtol": 1e-10, "atol": 1e-12}
MEAN_OVER_RANKS = ["dino_sinkhorn", "ibot_sinkhorn", "ibot_center", "lejepa"]
SIGREG = [f"sigreg_{split}" for split in worker.SPLITS]
Results = dict[str, dict[str, Tensor]]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[Results]:
    out_dir = tmp_path_factory.mktemp("dinov2_lejepa_ddp")
    return spawn_gloo(worker.compute_cases, out_dir, WORLD)


@pytest.fixture(scope="module")
def single() -> Results:
    return worker.compute_cases(0, 1)


def _check_gradients(case: str, split: str, ranks: list[Results], single: Results) -> None:
    averaged = torch.stack([r[case]["w_grad"] for r in ranks]).mean(dim=0)
    torch.testing.assert_close(averaged, single[case]["w_grad"], **TOL)
    full = single[case]["x_grad"]  # (V, B_global, ...)
    for r, result in enumerate(ranks):
        expected = WORLD * worker.rows(full, r, WORLD, split, dim=1)
        torch.testing.assert_close(result[case]["x_grad"], expected, **TOL)


@pytest.mark.parametrize("case", MEAN_OVER_RANKS)
def test_mean_over_ranks_is_the_single_process_loss_and_gradient(
    case: str, ranks: list[Results], single: Results
) -> None:
    mean_loss = torch.stack([r[case]["loss"] for r in ranks]).mean()
    torch.testing.assert_close(mean_loss, single[case]["loss"], **TOL)
    _check_gradients(case, "even", ranks, single)


@pytest.mark.parametrize("case", SIGREG)
def test_sigreg_is_the_global_statistic_on_every_rank_for_any_split(
    case: str, ranks: list[Results], single: Results
) -> None:
    for result in ranks:
        torch.testing.assert_close(result[case]["loss"], single[case]["loss"], **TOL)
    _check_gradients(case, case.removeprefix("sigreg_"), ranks, single)


@pytest.mark.parametrize("split", list(worker.SPLITS))
def test_sinkhorn_codes_are_the_rows_of_the_global_codes_for_any_split(
    split: str, ranks: list[Results], single: Results
) -> None:
    case = f"sinkhorn_{split}"
    gathered = torch.cat([r[case]["codes"] for r in ranks])
    torch.testing.assert_close(gathered, single[case]["codes"], rtol=1e-12, atol=1e-14)


def test_ibot_masks_differ_between_ranks() -> None:
    """The premise of the patch case: rank 0 holds more masked patches than rank 1."""
    mask = worker._patch_mask()
    assert int(mask[:4].sum()) > int(mask[4:].sum()) > 0
    assert not bool(mask[4:].any(dim=1).all())  # rank 1 has an image with no masked patch


def test_ibot_center_is_averaged_across_ranks(ranks: list[Results], single: Results) -> None:
    for result in ranks:
        torch.testing.assert_close(
            result["ibot_center_update"]["center"],
            single["ibot_center_update"]["center"],
            rtol=1e-6,
            atol=1e-7,
        )
