"""DDP and FSDP2 with 2 gloo processes on CPU equal one process on the concatenated batch.

The two ranks are forked from the test process (no second import of torch and Lightning);
each sets the environment of a launched rank (``RANK``, ``LOCAL_RANK``, ...), so Lightning
joins the process group instead of launching processes itself.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import traceback
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.distributed.fsdp import FSDPModule
from torch.utils.data import DataLoader, Subset

from spt_module import Module, default_parallelize_fn
from spt_module.testing import RandomDictDataset, free_port, make_trainer

pytestmark = pytest.mark.slow


def forward(self, batch, stage):
    logits = self.net(batch["x"].double())
    return {"loss": nn.functional.cross_entropy(logits, batch["label"])}


def initial_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def full(tensor: torch.Tensor) -> torch.Tensor:
    full_tensor = getattr(tensor, "full_tensor", None)  # a DTensor under FSDP2
    return (full_tensor() if full_tensor is not None else tensor).detach().clone()


def train_rank(rank: int, port: int, out: Path) -> None:
    """One rank: DDP then FSDP2 on samples rank, rank + 2, ...; rank 0 saves parameters.

    Batch k of the two ranks together is samples 8k to 8k + 7.
    """
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE="2",
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        NODE_RANK="0",
    )
    torch.set_num_threads(1)
    try:
        for strategy in ("ddp", "fsdp2"):
            module = Module(
                forward=forward,
                net=initial_net(),
                optim={"optimizer": {"type": "SGD", "lr": 0.5}, "scheduler": None},
                # Shard groups of >= 40 values: net[0] (45) alone, the rest with the root.
                parallelize_fn=functools.partial(default_parallelize_fn, min_num_params=40),
            )
            trainer = make_trainer(
                strategy=strategy, devices=2, max_epochs=2, use_distributed_sampler=False
            )
            data = Subset(RandomDictDataset(n=32), list(range(rank, 32, 2)))
            trainer.fit(module, DataLoader(data, batch_size=4))
            state = {name: full(p) for name, p in module.net.named_parameters()}
            sharded = any(hasattr(p, "full_tensor") for p in module.net.parameters())
            groups = [isinstance(m, FSDPModule) for m in [module, module.net, *module.net]]
            if rank == 0:
                result = {
                    "state": state,
                    "sharded": sharded,
                    "groups": groups,
                    "steps": trainer.global_step,
                }
                torch.save(result, out / f"{strategy}.pt")
    except BaseException:
        (out / f"error{rank}.txt").write_text(traceback.format_exc())
        os._exit(1)
    os._exit(0)


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    out = tmp_path_factory.mktemp("dist")
    port = free_port()
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=train_rank, args=(rank, port, out)) for rank in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    errors = [p.read_text() for p in sorted(out.glob("error*.txt"))]
    assert not errors, "\n".join(errors)
    assert [p.exitcode for p in procs] == [0, 0]
    return out


def reference_parameters() -> dict[str, torch.Tensor]:
    """One process, SGD on batches of 8 consecutive samples (the two ranks' halves)."""
    net = initial_net()
    data = RandomDictDataset(n=32)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _epoch in range(2):
        for start in range(0, 32, 8):
            x, y = data.x[start : start + 8].double(), data.label[start : start + 8]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    return {name: p.detach() for name, p in net.named_parameters()}


@pytest.mark.parametrize("strategy", ["ddp", "fsdp2"])
def test_two_gloo_processes_equal_one_process_on_the_concatenated_batch(
    two_process_results, strategy
):
    result = torch.load(two_process_results / f"{strategy}.pt")
    assert result["steps"] == 8
    assert result["sharded"] is (strategy == "fsdp2")
    fsdp2 = strategy == "fsdp2"
    # default_parallelize_fn: the root, and net[0] (45 values >= 40) as its own group.
    assert result["groups"] == [fsdp2, False, fsdp2, False, False]
    for name, value in reference_parameters().items():
        torch.testing.assert_close(result["state"][name], value, atol=1e-10, rtol=0, msg=name)
