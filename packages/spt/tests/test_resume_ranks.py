"""The per-process pieces of resume and of a bounded exit, in one process (fast).

The 2-process runs that use them are in ``test_resume_ddp.py``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import lightning as pl
import pytest
import torch
import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy
from torch.utils.data import DataLoader, DistributedSampler

import spt
from spt._lightning import set_process_group_timeout, with_distributed_sampler
from spt._process_group import (
    apply_collective_timeout,
    check_collective_timeout,
    is_collective_failure,
)
from spt._resume import ResumableDataModule, ResumableLoader, gather_per_rank, select_own_rank
from spt_module.testing import make_dataloader, make_module, make_trainer


def _ddp_trainer(**kwargs: Any) -> pl.Trainer:
    """A 2-process DDP Trainer that is never fitted (nothing is launched)."""
    kwargs.setdefault("strategy", "ddp")
    return pl.Trainer(
        accelerator="cpu", devices=2, logger=False, enable_progress_bar=False, **kwargs
    )


def test_per_rank_state_round_trips_in_one_process() -> None:
    state = {"yielded": 3, "rng": torch.arange(4)}
    saved = gather_per_rank(state)
    assert list(saved) == ["per_rank"]
    assert len(saved["per_rank"]) == 1
    assert select_own_rank(saved, "the position") is saved["per_rank"][0]


def test_a_state_saved_without_ranks_is_taken_as_it_is() -> None:
    old = {"yielded": 3, "exhausted": False}
    assert select_own_rank(old, "the position") is old
    assert select_own_rank(None, "the random state") is None


def test_a_state_of_another_world_size_gives_rank_zeros_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    saved = {"per_rank": [{"yielded": 1}, {"yielded": 2}]}
    with caplog.at_level(logging.WARNING, logger="spt"):
        assert select_own_rank(saved, "the train loader's position") == {"yielded": 1}
    assert "the train loader's position was saved by 2 processes and is restored in 1" in (
        caplog.text
    )


def test_resumable_loader_sets_attributes_on_the_loader_it_wraps() -> None:
    # Lightning sets its rank-aware worker_init_fn on the loader it is given: the wrapped
    # DataLoader is the one that starts the workers.
    inner = DataLoader(list(range(4)), batch_size=2)
    loader = ResumableLoader(inner)

    def seed_worker(worker_id: int) -> None:
        return None

    loader.worker_init_fn = seed_worker
    assert inner.worker_init_fn is seed_worker
    assert "worker_init_fn" not in vars(loader)


def test_with_distributed_sampler_gives_each_rank_its_part() -> None:
    loader = DataLoader(list(range(10)), batch_size=2)
    prepared = with_distributed_sampler(_ddp_trainer(), loader)
    assert isinstance(prepared.sampler, DistributedSampler)
    assert (prepared.sampler.num_replicas, prepared.sampler.rank) == (2, 0)
    assert prepared.sampler.shuffle  # Lightning shuffles every train set under DDP
    assert len(prepared) == 3  # 5 of the 10 samples, batches of 2


def test_with_distributed_sampler_leaves_a_single_process_loader_alone() -> None:
    loader = DataLoader(list(range(10)), batch_size=2)
    assert with_distributed_sampler(make_trainer(), loader) is loader
    no_sampler = _ddp_trainer(use_distributed_sampler=False)
    assert with_distributed_sampler(no_sampler, loader) is loader


def test_resumable_datamodule_attaches_the_trainer_to_the_datamodule_it_wraps() -> None:
    seen: list[Any] = []

    class Inner(spt.data.DataModule):
        def setup(self, stage: str) -> None:
            seen.append(self.trainer)

    inner = Inner(train=make_dataloader(n=8))
    trainer = make_trainer(max_steps=1)
    trainer.fit(make_module(), datamodule=ResumableDataModule(inner))
    assert seen == [trainer]


def test_process_group_timeout_is_set_on_a_ddp_strategy_with_lightnings_default() -> None:
    trainer = _ddp_trainer()
    assert set_process_group_timeout(trainer, timedelta(seconds=42))
    assert trainer.strategy._timeout == timedelta(seconds=42)  # type: ignore[attr-defined]


def test_process_group_timeout_chosen_in_the_strategy_is_kept() -> None:
    trainer = _ddp_trainer(strategy=DDPStrategy(timeout=timedelta(minutes=5)))
    assert not set_process_group_timeout(trainer, timedelta(seconds=42))
    assert trainer.strategy._timeout == timedelta(minutes=5)  # type: ignore[attr-defined]
    assert not set_process_group_timeout(make_trainer(), timedelta(seconds=42))


def test_collective_timeout_is_applied_in_seconds() -> None:
    trainer = _ddp_trainer()
    apply_collective_timeout(trainer, 90)
    assert trainer.strategy._timeout == timedelta(seconds=90)  # type: ignore[attr-defined]
    untouched = _ddp_trainer()
    apply_collective_timeout(untouched, None)
    assert untouched.strategy._timeout == timedelta(minutes=30)  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [0, -5, "600", True])
def test_a_bad_collective_timeout_is_refused_by_the_manager(value: Any) -> None:
    with pytest.raises(ValueError, match=r"collective_timeout=.* must be a positive number"):
        spt.Manager(
            trainer=make_trainer(),
            module=make_module(),
            data=spt.data.DataModule(train=make_dataloader()),
            collective_timeout=value,
        )
    assert check_collective_timeout(None) is None


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError(
            "[../third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:200: "
            "Connection reset by peer"
        ),
        RuntimeError("[gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting 60000ms"),
        dist.DistBackendError("NCCL error in: ProcessGroupNCCL.cpp, remote process exited"),
    ],
    ids=["gloo-peer-died", "gloo-timeout", "nccl"],
)
def test_errors_of_a_failed_collective_are_recognised(exc: BaseException) -> None:
    assert is_collective_failure(exc)


@pytest.mark.parametrize(
    "exc", [ValueError("bad input"), RuntimeError("mat1 and mat2 shapes cannot be multiplied")]
)
def test_other_errors_are_not_taken_for_a_failed_collective(exc: BaseException) -> None:
    assert not is_collective_failure(exc)
