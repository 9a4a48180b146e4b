"""Queues, kNN and monitors resume from a Lightning checkpoint where they were."""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from spt_callbacks import OnlineKNN, RankMe, queue_registry
from spt_module.testing import DictOutputModule, make_dataloader, make_trainer


def _callbacks():
    return [
        OnlineKNN(name="knn", input="embedding", target="label", queue_length=24, k=3),
        RankMe(name="rank", input="embedding", queue_length=40, every_n_steps=3),
    ]


def test_queues_resume_where_they_were(tmp_path) -> None:
    first = _callbacks()
    trainer = make_trainer(callbacks=first, max_epochs=-1, max_steps=5)
    trainer.fit(DictOutputModule(hidden=16), make_dataloader(n=64, batch_size=16))
    path = tmp_path / "step5.ckpt"
    trainer.save_checkpoint(path)
    saved = {k: torch.cat(q.recent()) for k, q in queue_registry(trainer).queues.items()}

    second = _callbacks()
    resumed = make_trainer(callbacks=second, max_epochs=-1, max_steps=5)
    resumed.fit(DictOutputModule(hidden=16), make_dataloader(n=64, batch_size=16), ckpt_path=path)
    registry = queue_registry(resumed)
    assert sorted(registry.queues) == ["embedding", "label"]
    for key, items in saved.items():
        assert torch.equal(torch.cat(registry.queues[key].recent()), items), key
        assert registry.queues[key].total == 5 * 16
    assert second[0]._queues["embedding"] is second[1]._queues["embedding"]
    assert second[1].batches_seen == 5


def test_resumed_run_continues_like_uninterrupted(tmp_path) -> None:
    # The checkpoint is the one ModelCheckpoint writes at the end of the first epoch (4
    # batches of 16): Lightning restarts a non-resumable DataLoader from its first batch, so
    # only an epoch-boundary resume sees the same data as the uninterrupted run. (With
    # max_epochs=-1, Lightning 2.6 replays one extra batch after such a resume.)
    torch.manual_seed(0)
    module = DictOutputModule(hidden=16)
    fresh = DictOutputModule(hidden=16)
    saver = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", save_top_k=-1)
    straight_cbs = _callbacks()
    straight = make_trainer(
        callbacks=[*straight_cbs, saver], enable_checkpointing=True, max_epochs=3
    )
    straight.fit(module, make_dataloader(n=64, batch_size=16))

    tail_cbs = _callbacks()
    tail = make_trainer(callbacks=tail_cbs, max_epochs=3)
    tail.fit(fresh, make_dataloader(n=64, batch_size=16), ckpt_path=tmp_path / "epoch=0.ckpt")
    assert tail.global_step == straight.global_step == 12
    for key in ("embedding", "label"):
        a = torch.cat(queue_registry(straight).queues[key].recent())
        b = torch.cat(queue_registry(tail).queues[key].recent())
        torch.testing.assert_close(a, b)
    assert tail_cbs[1].batches_seen == straight_cbs[1].batches_seen == 12
    # Same items, but the restored ring wraps at another row: float32 sums differ in rounding.
    torch.testing.assert_close(
        tail.callback_metrics["rank/rankme"],
        straight.callback_metrics["rank/rankme"],
        rtol=1e-4,
        atol=0,
    )


def test_state_loaded_before_setup_is_saved_back_and_applied_in_setup() -> None:
    first = OnlineKNN(name="knn", input="embedding", target="label", queue_length=24, k=3)
    trainer = make_trainer(callbacks=[first], max_epochs=-1, max_steps=2)
    trainer.fit(DictOutputModule(hidden=16), make_dataloader(n=64, batch_size=16))
    state = first.state_dict()
    assert sorted(state["queues"]) == ["embedding", "label"]

    second = OnlineKNN(name="knn", input="embedding", target="label", queue_length=24, k=3)
    second.load_state_dict(state)  # before setup: there are no queues yet
    assert second.state_dict() == state
    second.setup(make_trainer(), DictOutputModule(hidden=16), "fit")
    for key in ("embedding", "label"):
        assert torch.equal(torch.cat(second._queues.recent(key)), state["queues"][key]["items"])
