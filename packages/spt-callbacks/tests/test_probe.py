"""OnlineProbe: trains its own model, never touches the main training."""

from __future__ import annotations

import copy

import lightning as pl
import pytest
import torch
from torch import nn

from spt_callbacks import OnlineProbe
from spt_module.testing import DictOutputModule, make_dataloader, make_module, make_trainer


def _modules():
    torch.manual_seed(0)
    return {"lightning": DictOutputModule(hidden=16), "spt": make_module(hidden=16)}


@pytest.fixture(params=["lightning", "spt"])
def module(request: pytest.FixtureRequest) -> nn.Module:
    return _modules()[request.param]


def _probe(module: nn.Module | None = None, **kwargs) -> OnlineProbe:
    kwargs.setdefault("probe", nn.Linear(16, 3))
    return OnlineProbe(module, name="probe", **kwargs)


def _fit(module, callbacks, val: bool = True, **trainer_kwargs):
    trainer_kwargs.setdefault("max_epochs", 2)
    trainer = make_trainer(callbacks=callbacks, **trainer_kwargs)
    val_loader = make_dataloader(n=32, seed=1) if val else None
    trainer.fit(module, make_dataloader(n=64, batch_size=16), val_loader)
    return trainer


def test_main_parameters_identical_with_and_without_probe(module: nn.Module) -> None:
    plain = copy.deepcopy(module)
    probed = copy.deepcopy(module)
    _fit(plain, [])
    probe = _probe(probed)
    before = copy.deepcopy(probe.probe.state_dict())
    _fit(probed, [probe])
    for (name, p), (_, q) in zip(plain.named_parameters(), probed.named_parameters(), strict=True):
        assert torch.equal(p, q), name
    assert not torch.equal(before["weight"], probe.probe.weight.detach())  # the probe trained
    assert not any(p is q for p in probed.parameters() for q in probe.probe.parameters())


def test_global_step_not_advanced_by_probe(module: nn.Module) -> None:
    trainer = _fit(module, [_probe(module)], val=False, max_epochs=-1, max_steps=20)
    assert trainer.global_step == 20


def test_probe_logs_train_and_val_metrics(module: nn.Module) -> None:
    trainer = _fit(module, [_probe(module)])
    metrics = trainer.callback_metrics
    for key in ("probe/train/loss", "probe/train/top1", "probe/val/top1"):
        assert key in metrics, sorted(metrics)
    assert 0.0 <= float(metrics["probe/val/top1"]) <= 1.0


def test_probe_val_accuracy_matches_reference() -> None:
    torch.manual_seed(0)
    module = DictOutputModule(hidden=16)
    probe = _probe(module)
    trainer = _fit(module, [probe], max_epochs=1)
    data = make_dataloader(n=32, seed=1).dataset
    with torch.no_grad():
        logits = probe.probe(module.backbone(data.x))
    expected = (logits.argmax(1) == data.label).float().mean()
    assert torch.isclose(trainer.callback_metrics["probe/val/top1"], expected)


def test_probe_steps_match_manual_training() -> None:
    """The probe's update is exactly its optimizer (SGD here) on detached embeddings."""
    torch.manual_seed(0)
    module = DictOutputModule(hidden=16)
    reference_module = copy.deepcopy(module)
    probe = _probe(module, optimizer={"type": "SGD", "lr": 0.5})
    reference = copy.deepcopy(probe.probe)
    _fit(module, [probe], val=False, max_epochs=1)
    opt_main = torch.optim.SGD(reference_module.parameters(), lr=0.1)
    opt_probe = torch.optim.SGD(reference.parameters(), lr=0.5)
    for batch in make_dataloader(n=64, batch_size=16):
        out = reference_module.training_step(batch, 0)
        opt_main.zero_grad()
        out["loss"].backward()
        opt_main.step()
        loss = nn.functional.cross_entropy(reference(out["embedding"].detach()), batch["label"])
        opt_probe.zero_grad()
        loss.backward()
        opt_probe.step()
    torch.testing.assert_close(probe.probe.weight, reference.weight)


def test_probe_default_optimizer_steps_match_manual_adamw() -> None:
    """The default optimizer is AdamW (torch's defaults, fused), one step per training batch."""
    torch.manual_seed(0)
    module = DictOutputModule(hidden=16)
    reference_module = copy.deepcopy(module)
    probe = _probe(module)
    reference = copy.deepcopy(probe.probe)
    _fit(module, [probe], val=False, max_epochs=1)
    opt_main = torch.optim.SGD(reference_module.parameters(), lr=0.1)
    opt_probe = torch.optim.AdamW(reference.parameters(), fused=True)
    for batch in make_dataloader(n=64, batch_size=16):
        out = reference_module.training_step(batch, 0)
        opt_main.zero_grad()
        out["loss"].backward()
        opt_main.step()
        loss = nn.functional.cross_entropy(reference(out["embedding"].detach()), batch["label"])
        opt_probe.zero_grad()
        loss.backward()
        opt_probe.step()
    torch.testing.assert_close(probe.probe.weight, reference.weight, rtol=0, atol=0)
    torch.testing.assert_close(probe.probe.bias, reference.bias, rtol=0, atol=0)


def test_probe_scheduler_steps_every_batch() -> None:
    probe = _probe(
        optimizer={"type": "SGD", "lr": 1.0},
        scheduler={"type": "StepLR", "step_size": 1, "gamma": 0.5},
    )
    _fit(DictOutputModule(hidden=16), [probe], val=False, max_epochs=1)
    assert probe.optimizer is not None
    assert probe.optimizer.param_groups[0]["lr"] == pytest.approx(0.5**4)


@pytest.mark.parametrize(
    ("trainer_kwargs", "batches"),
    [
        ({"max_epochs": 2}, 8),  # ends by max_epochs: 2 epochs of 4 batches
        ({"max_epochs": 2, "limit_train_batches": 3}, 6),
        ({"max_epochs": -1, "max_steps": 5}, 5),
        ({"max_epochs": 2, "accumulate_grad_batches": 2}, 8),  # accumulation: same batches
    ],
)
def test_probe_default_schedule_is_one_step_per_training_batch(
    module: nn.Module, trainer_kwargs: dict, batches: int
) -> None:
    probe = _probe(module, scheduler="CosineAnnealingLR")
    _fit(module, [probe], val=False, **trainer_kwargs)
    assert probe.scheduler is not None
    assert probe.scheduler.T_max == batches
    assert probe.scheduler.last_epoch == batches  # stepped once per batch, to the end


class _StopAfter(pl.Callback):
    """Ends a run that has no length of its own after ``batches`` training batches."""

    def __init__(self, batches: int) -> None:
        self.batches = batches

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx + 1 >= self.batches:
            trainer.should_stop = True


def test_probe_scheduler_needing_no_length_runs_in_an_unbounded_run() -> None:
    probe = _probe(
        optimizer={"type": "SGD", "lr": 1.0},
        scheduler={"type": "StepLR", "step_size": 1, "gamma": 0.5},
    )
    unbounded = {"max_epochs": -1, "max_steps": -1}
    _fit(DictOutputModule(hidden=16), [probe, _StopAfter(3)], val=False, **unbounded)
    assert probe.optimizer is not None
    assert probe.optimizer.param_groups[0]["lr"] == pytest.approx(0.5**3)


def test_probe_scheduler_needing_a_length_in_an_unbounded_run_says_so() -> None:
    probe = _probe(scheduler="CosineAnnealingLR")
    unbounded = {"max_epochs": -1, "max_steps": -1}
    with pytest.raises(TypeError, match="T_max"):
        _fit(DictOutputModule(hidden=16), [probe, _StopAfter(3)], val=False, **unbounded)


def test_probe_under_bf16_mixed_precision() -> None:
    probe = _probe()
    trainer = _fit(DictOutputModule(hidden=16), [probe], precision="bf16-mixed", max_epochs=1)
    assert probe.probe.weight.dtype == torch.float32
    assert torch.isfinite(trainer.callback_metrics["probe/train/loss"])


def test_probe_rejects_non_module() -> None:
    with pytest.raises(TypeError, match="probe"):
        OnlineProbe(None, name="p", probe=lambda x: x)


@pytest.mark.parametrize("argument", ["input", "target"])
def test_probe_missing_key_names_returned_keys(argument: str) -> None:
    probe = _probe(**{argument: "features"})
    with pytest.raises(KeyError, match=f"{argument}='features'") as info:
        _fit(DictOutputModule(hidden=16), [probe])
    assert "embedding" in str(info.value)
    assert "label" in str(info.value)


def test_probe_dimension_mismatch_says_both() -> None:
    probe = _probe(probe=nn.Linear(512, 3))
    with pytest.raises(ValueError, match="512") as info:
        _fit(DictOutputModule(hidden=16), [probe])
    assert "16" in str(info.value)


def test_probe_checkpoint_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    module = DictOutputModule(hidden=16)
    probe = _probe(module, scheduler={"type": "StepLR", "step_size": 2, "gamma": 0.5})
    trainer = _fit(module, [probe], val=False, max_epochs=-1, max_steps=6)
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    saved = copy.deepcopy(probe.state_dict())

    fresh = _probe(
        DictOutputModule(hidden=16), scheduler={"type": "StepLR", "step_size": 2, "gamma": 0.5}
    )
    resumed = make_trainer(callbacks=[fresh], max_epochs=-1, max_steps=6)
    resumed.fit(DictOutputModule(hidden=16), make_dataloader(n=64, batch_size=16), ckpt_path=path)
    torch.testing.assert_close(fresh.probe.state_dict(), saved["probe"])
    state = fresh.state_dict()
    torch.testing.assert_close(state["optimizer"]["state"], saved["optimizer"]["state"])
    assert state["scheduler"]["last_epoch"] == saved["scheduler"]["last_epoch"] == 6


def _surface(module: nn.Module) -> dict[str, object]:
    """What a monkey-patch would change: instance attributes, bound hooks and submodules."""
    return {
        "dict": {k: id(v) for k, v in vars(module).items() if k != "_trainer"},
        "methods": {
            name: getattr(module, name).__func__
            for name in ("forward", "training_step", "validation_step", "configure_optimizers")
        },
        "modules": [name for name, _ in module.named_modules()],
        "parameters": [name for name, _ in module.named_parameters()],
    }


def test_probe_patches_nothing_on_the_module(module: nn.Module) -> None:
    before = _surface(module)
    _fit(module, [_probe(module)], max_epochs=1)
    after = _surface(module)
    assert after["methods"] == before["methods"]
    assert after["modules"] == before["modules"]
    assert after["parameters"] == before["parameters"]
    added = set(after["dict"]) - set(before["dict"])  # type: ignore[arg-type]
    assert not {k for k in added if "probe" in k.lower() or "forward" in k or "optim" in k}
    assert "forward" not in vars(module)
    assert "configure_optimizers" not in vars(module)


def test_probe_state_loaded_before_fit_is_saved_back_and_restored() -> None:
    torch.manual_seed(0)
    module = DictOutputModule(hidden=16)
    probe = _probe(module, scheduler={"type": "StepLR", "step_size": 2, "gamma": 0.5})
    _fit(module, [probe], val=False, max_epochs=1)
    saved = copy.deepcopy(probe.state_dict())

    fresh = _probe(scheduler={"type": "StepLR", "step_size": 2, "gamma": 0.5})
    fresh.load_state_dict(saved)  # no optimizer nor scheduler built yet
    assert fresh.state_dict()["scheduler"] == saved["scheduler"]
    torch.testing.assert_close(fresh.probe.state_dict(), saved["probe"])
    _fit(DictOutputModule(hidden=16), [fresh], val=False, max_epochs=1)
    assert fresh.scheduler is not None
    assert fresh.scheduler.last_epoch == saved["scheduler"]["last_epoch"] + 4
