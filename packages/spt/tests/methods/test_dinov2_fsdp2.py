"""Three DINOv2 steps under FSDP2 with 2 gloo processes equal one process on the whole batch.

DINOv2 runs several forwards of the same shard groups per step (the student ViT on the global
and then the local views, the EMA teachers without gradient), which FSDP1's flat parameters
could not do. The model is ``_ibot_reference``'s tiny float64 ViT (one register token, fixed
masks of different sizes in the batch, a local view that interpolates the position
embedding); every student and teacher network is its own FSDP2 shard group and the root
holds the rest. Rank ``r`` gets the ``r``-th half of each batch of the one-process run, masks
included. FSDP2 shards float64 on CPU with gloo, so the whole gathered state dict (students,
teachers, centres, counters) must agree to 1e-10.

Sinkhorn-Knopp all-reduces its sums, so the teacher codes are those of the whole batch.
KoLeo is a per-rank term, as in DINOv2's code (each GPU's nearest neighbours among its own
class tokens): the one-process reference computes it on each half of every global view, and
the same reference with KoLeo on the whole view ends elsewhere.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).parent))
import _ibot_reference as ref

import spt
from spt_losses import KoLeoLoss
from spt_module.testing import free_port, make_trainer

pytestmark = pytest.mark.slow

WORLD = 2
HALF = ref.BATCH // WORLD
NETS = ("backbone", "projector", "patch_projector")


class KoLeoPerRank(KoLeoLoss):
    """KoLeo of a one-process batch as ``WORLD`` ranks compute it: the mean over its halves."""

    def forward(self, embeddings: Tensor) -> Tensor:
        halves = embeddings.chunk(WORLD)
        return torch.stack([KoLeoLoss.forward(self, h) for h in halves]).mean()


def build(**kwargs: Any) -> spt.Module:
    module: spt.Module = ref.build(
        spt.methods.dinov2, patch_out_dim=ref.PATCH_OUT, koleo_weight=ref.KOLEO_WEIGHT, **kwargs
    )
    return module


def shard_every_network(module: nn.Module, device_mesh: Any) -> nn.Module:
    """``fully_shard`` each student and teacher network, then the root (the losses' buffers)."""
    mesh = device_mesh["data_parallel"]
    for name in NETS:
        pair = getattr(module, name)
        fully_shard(pair.student, mesh=mesh)
        fully_shard(pair.teacher, mesh=mesh)
    fully_shard(module, mesh=mesh)
    return module


def rank_indices(rank: int) -> list[int]:
    """The ``rank``-th half of every batch of ``ref.BATCH`` consecutive samples."""
    return [
        i
        for start in range(0, ref.N, ref.BATCH)
        for i in range(start + rank * HALF, start + (rank + 1) * HALF)
    ]


def full_state(module: nn.Module) -> dict[str, Tensor]:
    """The state dict with every DTensor gathered (a collective: every rank calls it)."""
    state = {}
    for name, value in module.state_dict().items():
        gather = getattr(value, "full_tensor", None)  # a DTensor under FSDP2
        state[name] = (gather() if gather is not None else value).detach().clone()
    return state


def train_rank(rank: int, port: int, out: Path) -> None:
    """One rank of the FSDP2 run; rank 0 saves the gathered state and the sharding facts."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(WORLD),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        NODE_RANK="0",
    )
    torch.set_num_threads(1)
    try:
        module = build(parallelize_fn=shard_every_network)
        trainer = make_trainer(
            strategy="fsdp2",
            devices=WORLD,
            max_epochs=2,
            max_steps=ref.STEPS,
            use_distributed_sampler=False,
        )
        data = Subset(ref.MaskedViews(), rank_indices(rank))
        trainer.fit(module, DataLoader(data, batch_size=HALF, shuffle=False))
        params = list(module.parameters())
        local = [p.to_local() for p in params if hasattr(p, "to_local")]
        result = {
            "state": full_state(module),
            "all_dtensors": len(local) == len(params),
            "local_values": sum(t.numel() for t in local),
            "all_values": sum(p.numel() for p in params),
            "groups": [
                isinstance(getattr(module, name).student, FSDPModule)
                and isinstance(getattr(module, name).teacher, FSDPModule)
                for name in NETS
            ]
            + [isinstance(module, FSDPModule)],
            "steps": trainer.global_step,
        }
        if rank == 0:
            torch.save(result, out / "fsdp2.pt")
    except BaseException:
        (out / f"error{rank}.txt").write_text(traceback.format_exc())
        os._exit(1)
    os._exit(0)


@pytest.fixture(scope="module")
def fsdp2_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    out = tmp_path_factory.mktemp("dinov2_fsdp2")
    port = free_port()
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=train_rank, args=(r, port, out)) for r in range(WORLD)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    errors = [p.read_text() for p in sorted(out.glob("error*.txt"))]
    assert not errors, "\n".join(errors)
    assert [p.exitcode for p in procs] == [0] * WORLD
    result: dict[str, Any] = torch.load(out / "fsdp2.pt")
    return result


def one_process_state(koleo: KoLeoLoss) -> dict[str, Tensor]:
    module = build()
    module.koleo_loss = koleo
    ref.fit(module)
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_dinov2_fsdp2_two_gloo_processes_equal_one_process(fsdp2_result: dict[str, Any]) -> None:
    assert fsdp2_result["steps"] == ref.STEPS
    # sharded for real: every parameter a DTensor holding half of the values on rank 0
    assert fsdp2_result["groups"] == [True] * (len(NETS) + 1)
    assert fsdp2_result["all_dtensors"]
    assert fsdp2_result["local_values"] < fsdp2_result["all_values"]

    state = fsdp2_result["state"]
    expected = one_process_state(KoLeoPerRank())
    assert state.keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(state[name], value, rtol=0.0, atol=1e-10, msg=name)

    initial = build().state_dict()
    for name in NETS:
        for role in ("student", "teacher"):
            prefix = f"{name}.{role}."
            moved = [
                k
                for k, v in initial.items()
                if k.startswith(prefix) and not torch.equal(v, state[k])
            ]
            assert moved, f"{prefix}* did not move in 3 steps"
    assert int(state["backbone.num_updates"]) == ref.STEPS


def test_dinov2_fsdp2_koleo_is_per_rank(fsdp2_result: dict[str, Any]) -> None:
    """KoLeo over the whole batch (no rank split) is not what the two ranks computed."""
    whole = one_process_state(KoLeoLoss())
    gap = max(
        (fsdp2_result["state"][k] - whole[k]).abs().max().item()
        for k in whole
        if k.startswith("backbone.student.")
    )
    assert gap > 1e-6
