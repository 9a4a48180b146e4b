"""MemoryBank: a first-in first-out ring buffer whose storage travels with the module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import Tensor, nn

from spt_losses import MemoryBank

sys.path.insert(0, str(Path(__file__).parent))
import _queue_ddp_worker as worker


def _rows(start: int, n: int, width: int = 2) -> Tensor:
    return torch.arange(start, start + n, dtype=torch.float32)[:, None].repeat(1, width)


def test_contents_are_the_filled_part_oldest_first() -> None:
    bank = MemoryBank(5, 2)
    assert bank.contents().shape == (0, 2)
    bank.enqueue(_rows(0, 2))
    bank.enqueue(_rows(2, 2))
    assert bank.contents()[:, 0].tolist() == [0, 1, 2, 3]
    assert (int(bank.ptr), int(bank.filled), bank.full) == (4, 4, False)


def test_enqueue_wraps_around_and_overwrites_the_oldest() -> None:
    bank = MemoryBank(5, 2)
    for start in (0, 3, 6):
        bank.enqueue(_rows(start, 3))
    # 9 keys into 5 slots: keys 4..8 survive; slots hold [5, 6, 7, 8, 4]
    assert bank.bank[:, 0].tolist() == [5, 6, 7, 8, 4]
    assert bank.contents()[:, 0].tolist() == [4, 5, 6, 7, 8]
    assert (int(bank.ptr), int(bank.filled), bank.full) == (4, 5, True)


def test_enqueue_of_more_keys_than_slots_keeps_the_newest() -> None:
    bank = MemoryBank(4, 2)
    bank.enqueue(_rows(0, 1))
    bank.enqueue(_rows(10, 6))
    assert bank.contents()[:, 0].tolist() == [12, 13, 14, 15]


def test_contents_survive_an_enqueue_in_the_same_step() -> None:
    bank = MemoryBank(4, 2)
    bank.enqueue(_rows(0, 2))
    query = torch.ones(1, 2, requires_grad=True)
    score = (query @ bank.contents().T).sum()  # keeps the contents for its backward
    bank.enqueue(_rows(5, 2))
    score.backward()  # no in-place modification error
    assert query.grad is not None
    assert query.grad.tolist() == [[1.0, 1.0]]


def test_enqueue_detaches_and_casts_to_the_bank_dtype() -> None:
    bank = MemoryBank(4, 3, dtype=torch.float64)
    keys = torch.randn(2, 3, requires_grad=True)
    bank.enqueue(keys * 2)
    assert bank.bank.grad_fn is None
    assert not bank.bank.requires_grad
    assert bank.contents().dtype == torch.float64
    torch.testing.assert_close(bank.contents(), (keys * 2).detach().double())


def test_storage_and_counters_are_buffers_in_the_state_dict() -> None:
    bank = MemoryBank(6, (2, 3))
    assert set(bank.state_dict()) == {"bank", "ptr", "filled"}
    assert {name for name, _ in bank.named_buffers()} == {"bank", "ptr", "filled"}
    assert list(bank.parameters()) == []
    holder = nn.Module()
    holder.queue = bank
    holder.double()
    assert bank.bank.dtype == torch.float64
    assert bank.ptr.dtype == torch.long


def test_state_dict_round_trip_restores_the_ring_and_its_pointer() -> None:
    bank = MemoryBank(5, 2)
    for start in (0, 3, 6):
        bank.enqueue(_rows(start, 3))
    restored = MemoryBank(5, 2)
    restored.load_state_dict(bank.state_dict())
    torch.testing.assert_close(restored.contents(), bank.contents())
    bank.enqueue(_rows(20, 2))
    restored.enqueue(_rows(20, 2))
    torch.testing.assert_close(restored.contents(), bank.contents())
    assert int(restored.ptr) == int(bank.ptr) == 1


def test_load_rejects_counters_outside_the_bank() -> None:
    state = MemoryBank(5, 2).state_dict()
    state["ptr"] = torch.tensor(7)
    with pytest.raises(ValueError, match="ptr 7"):
        MemoryBank(5, 2).load_state_dict(state)


def test_reset_empties_the_bank() -> None:
    bank = MemoryBank(4, 2)
    bank.enqueue(_rows(0, 3))
    bank.reset()
    assert bank.contents().shape == (0, 2)
    assert int(bank.ptr) == int(bank.filled) == 0


def test_random_init_is_full_of_unit_rows() -> None:
    gen = torch.Generator().manual_seed(0)
    bank = MemoryBank(8, 4, init="random", generator=gen)
    assert bank.full
    assert bank.contents().shape == (8, 4)
    torch.testing.assert_close(bank.contents().norm(dim=1), torch.ones(8))
    bank.enqueue(torch.zeros(3, 4))
    assert bank.contents()[-3:].abs().sum() == 0  # the newest are last


def test_check_global_batch_names_the_size_and_the_batch() -> None:
    bank = MemoryBank(1000, 2)
    bank.check_global_batch(100)
    with pytest.raises(ValueError, match=r"size 1000 is not a multiple of the global batch 256"):
        bank.check_global_batch(256)


def test_required_batch_multiple_is_checked_at_the_first_enqueue() -> None:
    bank = MemoryBank(10, 2, require_batch_multiple=True)
    with pytest.raises(ValueError, match=r"size 10 .* global batch 4"):
        bank.enqueue(_rows(0, 4))
    assert int(bank.filled) == 0  # nothing was written
    ok = MemoryBank(8, 2, require_batch_multiple=True)
    ok.enqueue(_rows(0, 4))
    assert ok.batch_checked
    ok.enqueue(_rows(0, 3))  # a short last batch later on is accepted


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 0, "item_shape": 2}, "size must be an int >= 1"),
        ({"size": 4, "item_shape": (2, 0)}, "item_shape"),
        ({"size": 4, "item_shape": 2, "init": "zeros"}, "init must be 'empty' or 'random'"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MemoryBank(**kwargs)  # type: ignore[arg-type]


def test_enqueue_rejects_keys_of_another_width() -> None:
    with pytest.raises(ValueError, match=r"keys of shape \(B, 2\); got \(3, 4\)"):
        MemoryBank(4, 2).enqueue(torch.zeros(3, 4))


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_hold_the_bank_of_the_gathered_keys(tmp_path: Path) -> None:
    ranks = worker.spawn(tmp_path, "memory_bank")
    single = worker.compute("memory_bank", 0, 1)["memory_bank"]
    for result in ranks:
        for key, expected in single.items():
            torch.testing.assert_close(result["memory_bank"][key], expected, rtol=0, atol=0)
