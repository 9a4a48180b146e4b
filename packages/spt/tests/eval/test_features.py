"""Feature extraction with Trainer.predict: each sample exactly once, also across ranks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from spt.eval import deduplicate, extract_features
from spt_module.testing import RandomDictDataset, forkserver_context, free_port, make_trainer


def test_deduplicate_drops_the_distributed_sampler_padding() -> None:
    n, world = 10, 4  # 10 samples on 4 ranks: 12 slots, 2 repeated
    shares = [
        list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False))
        for r in range(world)
    ]
    gathered = torch.tensor([i for share in shares for i in share])
    assert len(gathered) == 12
    values = gathered.float() * 10
    idx, kept = deduplicate(gathered, values)
    assert idx.tolist() == list(range(n))
    assert kept.tolist() == [10.0 * i for i in range(n)]


def test_extract_features_equals_the_network_on_every_sample_in_order() -> None:
    data = RandomDictDataset(n=23, dim=8)
    torch.manual_seed(0)
    network = nn.Linear(8, 4)
    features = extract_features(network, data, make_trainer(), batch_size=5, input_key="x")
    expected = network(torch.stack([data[i]["x"] for i in range(23)]))
    assert features.sample_idx.tolist() == list(range(23))
    torch.testing.assert_close(features.embedding, expected.detach())
    assert features.label.tolist() == [int(data[i]["label"]) for i in range(23)]
    assert network.training  # the train/eval mode is given back


@pytest.mark.skipif(sys.platform == "win32", reason="gloo spawn test runs on Linux and macOS")
def test_two_gloo_ranks_gather_every_sample_once(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    sys.path.insert(0, str(Path(__file__).parent))
    import _gather_worker as worker

    n = 11  # odd: the DistributedSampler pads rank 1 with sample 0
    forkserver_context()  # ranks forked with torch and Lightning already imported
    args = (2, n, str(tmp_path), str(free_port()))
    mp.start_processes(worker.run, args=args, nprocs=2, start_method="forkserver")
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert sum(len(r["local"]) for r in results) == 12  # one sample was seen twice
    for result in results:  # every rank holds the same, complete, de-duplicated features
        features = result["features"]
        assert features["sample_idx"].tolist() == list(range(n))
        torch.testing.assert_close(features["embedding"][:, 0], torch.arange(n).float())
        assert features["label"].tolist() == [i % 3 for i in range(n)]
