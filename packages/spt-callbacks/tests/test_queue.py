"""Ring-buffer queues and their sharing between callbacks."""

from __future__ import annotations

import pytest
import torch

from spt_callbacks import OnlineKNN, RankMe, RingQueue, queue_registry
from spt_module.testing import DictOutputModule, make_dataloader, make_trainer


def _all(queue: RingQueue, n: int | None = None) -> torch.Tensor:
    return torch.cat(queue.recent(n))


def test_queue_keeps_most_recent_items_in_order() -> None:
    queue = RingQueue("x", capacity=5)
    pushed = []
    for step in range(4):
        items = torch.arange(3 * step, 3 * step + 3).float().unsqueeze(1)
        queue.push(items)
        pushed.append(items)
    everything = torch.cat(pushed)
    assert queue.count == 5
    assert queue.total == 12
    assert torch.equal(_all(queue), everything[-5:])
    assert torch.equal(_all(queue, 2), everything[-2:])


def test_queue_push_larger_than_capacity_keeps_newest() -> None:
    queue = RingQueue("x", capacity=3)
    queue.push(torch.arange(7).float().unsqueeze(1))
    assert _all(queue).flatten().tolist() == [4.0, 5.0, 6.0]


def test_queue_grow_keeps_items() -> None:
    queue = RingQueue("x", capacity=3)
    queue.push(torch.arange(5).float().unsqueeze(1))
    queue.grow(6)
    queue.push(torch.tensor([[5.0], [6.0]]))
    assert _all(queue).flatten().tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]


def test_queue_rejects_other_item_shape() -> None:
    queue = RingQueue("embedding", capacity=3)
    queue.push(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(5,\)") as info:
        queue.push(torch.zeros(2, 5))
    assert "(4,)" in str(info.value)


def test_queue_state_round_trip() -> None:
    queue = RingQueue("x", capacity=4)
    queue.push(torch.arange(6).float().view(3, 2))
    queue.push(torch.arange(6, 10).float().view(2, 2))
    restored = RingQueue("x", capacity=4)
    restored.load_state_dict(queue.state_dict())
    assert torch.equal(_all(restored), _all(queue))
    assert restored.total == queue.total
    restored.push(torch.full((1, 2), -1.0))
    queue.push(torch.full((1, 2), -1.0))
    assert torch.equal(_all(restored), _all(queue))


def test_callbacks_watching_same_key_share_one_buffer_filled_once() -> None:
    knn = OnlineKNN(name="knn", input="embedding", target="label", queue_length=20, k=3)
    rank = RankMe(name="rank", input="embedding", queue_length=40, every_n_steps=2)
    trainer = make_trainer(max_epochs=1, limit_val_batches=0, callbacks=[knn, rank])
    trainer.fit(DictOutputModule(hidden=16), make_dataloader(n=64, batch_size=16))
    registry = queue_registry(trainer)
    assert sorted(registry.queues) == ["embedding", "label"]
    shared = registry.queues["embedding"]
    assert knn._queues["embedding"] is shared
    assert rank._queues["embedding"] is shared
    assert shared.capacity == 40  # the longest length asked
    assert shared.total == 64  # one push per batch, not one per callback
    assert registry.nbytes() == 40 * 16 * 4 + 20 * 8
    # Each reads its own most recent items.
    assert sum(s.shape[0] for s in knn._queues.recent("embedding")) == 20
    assert sum(s.shape[0] for s in rank._queues.recent("embedding")) == 40
