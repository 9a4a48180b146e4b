"""Teacher-student EMA: the cosine momentum schedule, one update per optimizer step, checkpoints."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt.ema import TeacherStudent, TeacherStudentCallback, attach_teacher_updates, cosine_momentum
from spt_module.testing import make_trainer


@pytest.mark.parametrize("base", [0.9, 0.996])
def test_cosine_momentum_matches_byol_formula(base: float) -> None:
    total = 50
    for k in range(0, total + 1, 7):
        # BYOL, Grill et al. 2020: tau = 1 - (1 - tau_base) * (cos(pi k / K) + 1) / 2
        expected = 1 - (1 - base) * (math.cos(math.pi * k / total) + 1) / 2
        assert cosine_momentum(k, total, base, 1.0) == pytest.approx(expected, abs=1e-12)
    assert cosine_momentum(0, total, base, 0.99) == pytest.approx(base)
    assert cosine_momentum(total, total, base, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(total + 10, total, base, 0.99) == pytest.approx(0.99)


def test_update_is_a_lerp_and_copies_buffers() -> None:
    torch.manual_seed(0)
    pair = TeacherStudent(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)), total_steps=10)
    teacher0 = [p.clone() for p in pair.teacher.parameters()]
    with torch.no_grad():
        for p in pair.student.parameters():
            p.add_(1.0)
    pair.student.train()(torch.randn(8, 3))  # moves the running stats
    m = pair.momentum
    pair.update_teacher()
    for t, t0, s in zip(
        pair.teacher.parameters(), teacher0, pair.student.parameters(), strict=True
    ):
        assert torch.allclose(t, m * t0 + (1 - m) * s)
    assert torch.equal(pair.teacher[1].running_mean, pair.student[1].running_mean)
    assert int(pair.num_updates) == 1
    assert pair.momentum == pytest.approx(cosine_momentum(1, 10, 0.996, 1.0))


def test_teacher_never_requires_grad() -> None:
    pair = TeacherStudent(nn.Linear(2, 2))
    assert all(not p.requires_grad for p in pair.teacher.parameters())
    assert all(p.requires_grad for p in pair.student.parameters())


def test_bad_momentum_is_named() -> None:
    with pytest.raises(ValueError, match=r"base_momentum=1\.5"):
        TeacherStudent(nn.Linear(2, 2), base_momentum=1.5)


class _Pairs(Dataset[Any]):
    def __init__(self, n: int = 12) -> None:
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 2, 6, generator=gen)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        return [{"image": self.x[i, v], "sample_idx": i} for v in range(2)]


def _byol_module(base: float = 0.9) -> spt.Module:
    torch.manual_seed(0)
    return spt.Module(
        forward=spt.forward.byol_forward,
        backbone=TeacherStudent(nn.Linear(6, 4), base_momentum=base),
        projector=TeacherStudent(nn.Linear(4, 4), base_momentum=base),
        predictor=nn.Linear(4, 4),
        byol_loss=spt.losses.NegativeCosineSimilarity(),
        optim={"optimizer": {"type": "SGD", "lr": 0.5}, "scheduler": None},
    )


class _StepRecorder(pl.Callback):
    """Snapshots the student after every batch on which the optimizer stepped."""

    def __init__(self) -> None:
        self.students: list[list[torch.Tensor]] = []
        self.updates_per_batch: list[tuple[int, int]] = []
        self._step = 0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        pair = pl_module.backbone
        self.updates_per_batch.append((trainer.global_step, int(pair.num_updates)))
        if trainer.global_step != self._step:
            self._step = trainer.global_step
            self.students.append([p.detach().clone() for p in pair.student.parameters()])


@pytest.mark.parametrize(
    "trainer_kwargs",
    [
        {"max_epochs": 2},
        {"max_epochs": 3, "max_steps": 4},
        {"max_epochs": 2, "accumulate_grad_batches": 2},
        {"max_epochs": 2, "limit_train_batches": 4, "accumulate_grad_batches": 3},
    ],
    ids=["epochs", "max-steps", "accumulation", "limit-and-accumulation"],
)
def test_schedule_length_is_spt_optims_and_the_steps_taken(trainer_kwargs: dict[str, Any]) -> None:
    import spt_optim

    class _Length(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
            self.length = spt_optim.length_from_module(pl_module)

    module, length = _byol_module(), _Length()
    trainer = make_trainer(callbacks=[length], **trainer_kwargs)
    trainer.fit(module, DataLoader(_Pairs(12), batch_size=2))  # 6 batches per epoch
    assert length.length is not None
    assert module.backbone.total_steps == length.length.optimizer_steps()
    assert module.backbone.total_steps == int(module.backbone.num_updates)


def test_teacher_updates_once_per_optimizer_step_under_accumulation() -> None:
    module = _byol_module()
    teacher0 = [p.detach().clone() for p in module.backbone.teacher.parameters()]
    recorder = _StepRecorder()
    trainer = make_trainer(max_epochs=1, accumulate_grad_batches=3, callbacks=[recorder])
    trainer.fit(module, DataLoader(_Pairs(12), batch_size=2))  # 6 batches -> 2 optimizer steps
    assert len(recorder.students) == 2
    assert int(module.backbone.num_updates) == 2
    # After every batch, one update per optimizer step so far: none on the micro-batches.
    assert [u for _, u in recorder.updates_per_batch] == [0, 0, 1, 1, 1, 2]
    assert module.backbone.total_steps == 2
    # Slow reference: the EMA of the student snapshots with the scheduled momenta.
    reference = teacher0
    for k, student in enumerate(recorder.students):
        m = cosine_momentum(k, 2, 0.9, 1.0)
        reference = [m * t + (1 - m) * s for t, s in zip(reference, student, strict=True)]
    for t, r in zip(module.backbone.teacher.parameters(), reference, strict=True):
        assert torch.allclose(t, r, atol=1e-6)
    assert not torch.allclose(reference[0], teacher0[0])


def test_teacher_and_schedule_position_are_in_the_checkpoint(tmp_path: Path) -> None:
    module = _byol_module()
    trainer = make_trainer(max_epochs=1)
    trainer.fit(module, DataLoader(_Pairs(8), batch_size=2))
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)["state_dict"]
    assert int(state["backbone.num_updates"]) == 4
    fresh = _byol_module()
    fresh.load_state_dict(state)
    assert int(fresh.backbone.num_updates) == 4
    for a, b in zip(
        fresh.backbone.teacher.parameters(), module.backbone.teacher.parameters(), strict=True
    ):
        assert torch.equal(a, b)


def test_attach_is_idempotent_and_rebinds_on_a_new_optimizer() -> None:
    module = _byol_module()
    trainer = make_trainer(max_epochs=1, callbacks=[TeacherStudentCallback()])
    trainer.fit(module, DataLoader(_Pairs(4), batch_size=2))
    assert int(module.backbone.num_updates) == 2  # the callback and the forward attach once
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    module.backbone.follow(optimizer)
    module.backbone.follow(optimizer)
    optimizer.step()
    assert int(module.backbone.num_updates) == 3


def test_attach_without_an_optimizer_for_the_student_fails_clearly() -> None:
    module = _byol_module()
    module.backbone.student.requires_grad_(False)
    module.projector.student.requires_grad_(False)
    trainer = make_trainer(max_epochs=1)
    with pytest.raises(ValueError, match="no optimizer holds"):
        trainer.fit(module, DataLoader(_Pairs(4), batch_size=2))
    assert attach_teacher_updates(nn.Linear(2, 2)) == []


def test_a_pickled_pair_follows_no_optimizer() -> None:
    import pickle

    pair = TeacherStudent(nn.Linear(2, 2))
    optimizer = torch.optim.SGD(pair.parameters(), lr=0.1)
    pair.follow(optimizer)
    copy = pickle.loads(pickle.dumps(pair))
    assert copy.followed is None
    assert pair.followed is optimizer
    assert torch.equal(copy.teacher.weight, pair.teacher.weight)
