"""Two gloo processes: every sample is on disk exactly once (padding dropped); one latent map."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from spt.embed import read_embeddings
from spt_module.testing import DictOutputModule, RandomDictDataset, run_ranks

WORKER = Path(__file__).with_name("_embed_ddp_worker.py")
N = 37

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("embed_ddp")
    run_ranks(WORKER, str(out))
    return out, [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.parametrize("case", ["lightning", "padded"])
def test_two_process_export_has_every_index_exactly_once(
    case: str, exported: tuple[Path, list[dict[str, Any]]]
) -> None:
    out, _ = exported
    arrays = read_embeddings(out / case)
    np.testing.assert_array_equal(arrays["sample_idx"], np.arange(N))
    manifest = json.loads((out / case / "manifest.json").read_text())
    assert manifest["num_samples"] == N
    assert {s["name"].split("-")[0] for s in manifest["shards"]} == {"r0", "r1"}  # both wrote


def test_padded_sampler_duplicate_is_dropped_by_the_higher_rank(
    exported: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, ranks = exported
    seen = [r["padded"]["seen"] for r in ranks]
    assert len(seen[0]) + len(seen[1]) == N + 1  # DistributedSampler padded 37 to 38
    assert set(seen[0]) & set(seen[1]) == {0}  # sample 0 went to both ranks
    assert [r["padded"]["written"] for r in ranks] == [19, 18]


def test_two_process_embeddings_equal_one_process(
    exported: tuple[Path, list[dict[str, Any]]],
) -> None:
    out, _ = exported
    torch.manual_seed(0)
    module = DictOutputModule(hidden=6)
    with torch.no_grad():
        expected = module.backbone(RandomDictDataset(n=N).x).numpy()
    for case in ("lightning", "padded"):
        arrays = read_embeddings(out / case)
        np.testing.assert_allclose(arrays["embedding"], expected, rtol=1e-6, atol=1e-6)


def test_latent_map_under_ddp_draws_every_ranks_embeddings_once_on_rank_zero(
    exported: tuple[Path, list[dict[str, Any]]],
) -> None:
    out, ranks = exported
    assert ranks[0]["latent_map"] == {
        "written": [str(out / "maps" / "latent_epoch1.png")],
        "num_points": [26],
    }
    assert ranks[1]["latent_map"] == {"written": [], "num_points": []}
