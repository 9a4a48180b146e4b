"""The built-in objectives: what MAE scores, what the contrastive loss sees, JEPA's EMA target."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

import spt_losses
from spt.ema import TeacherStudent
from spt.pretrain import SSLPretrainModule
from spt.pretrain.objectives import augment_view, sample_hidden_steps
from spt.pretrain.objectives import mae as mae_module
from spt_module.testing import make_trainer


def test_sample_hidden_steps_hides_ratio_of_observed_steps_only() -> None:
    torch.manual_seed(0)
    observed = torch.arange(20).unsqueeze(0) < torch.tensor([[20], [10], [3]])  # (3, 20)
    hidden = sample_hidden_steps(observed, 0.3)
    assert not (hidden & ~observed).any()
    assert hidden.sum(dim=1).tolist() == [6, 3, 1]  # round(0.3 * n), at least one


def test_sample_hidden_steps_differ_between_rows() -> None:
    torch.manual_seed(0)
    hidden = sample_hidden_steps(torch.ones(8, 50, dtype=torch.bool), 0.5)
    assert len({tuple(row.tolist()) for row in hidden}) == 8


def _fixed_hidden(observed: Tensor, ratio: float) -> Tensor:
    hidden = torch.zeros_like(observed)
    hidden[:, 1:4] = True
    return hidden & observed


def test_mae_loss_is_reconstruction_error_on_hidden_steps_only(
    make_config: Any, batch: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mae_module, "sample_hidden_steps", _fixed_hidden)
    module = SSLPretrainModule(make_config(ssl={"name": "mae", "mask_ratio": 0.3})).eval()
    x, observed = batch["timeseries"], batch["mask"]
    hidden = _fixed_hidden(observed, 0.3)
    loss, metrics = module.compute_loss(x, observed)

    with torch.no_grad():
        latents, _ = module.encoder.tokens(
            x.masked_fill(hidden.unsqueeze(-1), 0.0), observed, hidden=hidden
        )
        pred = module.decoder(latents)  # (B, T, C)
    per_step = ((pred - x) ** 2).mean(dim=-1)  # (B, T)
    expected = per_step[hidden].mean()
    torch.testing.assert_close(loss.detach(), expected)
    torch.testing.assert_close(metrics["mse_visible"], per_step[observed & ~hidden].mean())
    torch.testing.assert_close(metrics["hidden_fraction"], hidden.sum() / observed.sum())


def test_mae_does_not_see_the_values_it_reconstructs(
    make_config: Any, batch: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mae_module, "sample_hidden_steps", _fixed_hidden)
    module = SSLPretrainModule(make_config()).eval()
    preds: list[Tensor] = []
    module.decoder.register_forward_hook(lambda m, i, out: preds.append(out.detach()))
    x, observed = batch["timeseries"], batch["mask"]
    other = x.clone()
    other[:, 1:4] += 3.0  # only the hidden steps change
    loss_a, _ = module.compute_loss(x, observed)
    loss_b, _ = module.compute_loss(other, observed)
    torch.testing.assert_close(preds[0], preds[1])  # same input to the decoder
    assert not torch.allclose(loss_a, loss_b)  # but scored against other targets


def test_mae_hides_the_configured_ratio(make_config: Any, batch: dict[str, Any]) -> None:
    module = SSLPretrainModule(make_config(ssl={"name": "mae", "mask_ratio": 0.5}))
    _, metrics = module.compute_loss(batch["timeseries"], batch["mask"])
    assert abs(float(metrics["hidden_fraction"]) - 0.5) < 0.05


def test_contrastive_uses_ntxent_on_two_views(make_config: Any, batch: dict[str, Any]) -> None:
    module = SSLPretrainModule(
        make_config(ssl={"name": "contrastive", "temperature": 0.3, "proj_dim": 8})
    )
    assert isinstance(module.ntxent_loss, spt_losses.NTXEntLoss)
    seen: list[tuple[Tensor, ...]] = []
    module.ntxent_loss.register_forward_hook(lambda m, inputs, out: seen.append(inputs))
    loss, metrics = module.compute_loss(batch["timeseries"], batch["mask"])
    ((z1, z2),) = seen
    assert z1.shape == z2.shape == (8, 8)
    assert not torch.allclose(z1, z2)  # two different augmentations
    reference = spt_losses.NTXEntLoss(temperature=0.3)(z1, z2)
    torch.testing.assert_close(loss, reference)
    assert set(metrics) == {"positive_cosine", "top1"}


def test_contrastive_views_keep_padding_zero(make_config: Any, batch: dict[str, Any]) -> None:
    module = SSLPretrainModule(make_config(ssl="contrastive"))
    x, observed = batch["timeseries"], batch["mask"]
    view, hidden = augment_view(x, observed, module.jitter_std, module.scale_std, module.mask_ratio)
    assert view.shape == x.shape
    assert not (hidden & ~observed).any()
    assert not torch.allclose(view[observed & ~hidden], x[observed & ~hidden])


def test_jepa_target_encoder_gets_no_gradient(make_config: Any, batch: dict[str, Any]) -> None:
    module = SSLPretrainModule(make_config(ssl="jepa"))
    assert isinstance(module.encoder, TeacherStudent)  # the EMA pair of spt.ema
    target, context = module.encoder.teacher, module.get_encoder()
    loss, metrics = module.compute_loss(batch["timeseries"], batch["mask"])
    loss.backward()
    assert all(p.grad is None for p in target.parameters())
    assert all(not p.requires_grad for p in target.parameters())
    assert any(p.grad is not None for p in context.parameters())
    module.configure_optimizers()
    optimized = {
        id(p) for g in module.optimizer_entries[0].optimizer.param_groups for p in g["params"]
    }
    assert not optimized & {id(p) for p in target.parameters()}
    assert set(metrics) == {"target_std", "ema_momentum"}


def test_jepa_ema_update_after_optimizer_step(make_config: Any, loaders: tuple[Any, Any]) -> None:
    module = SSLPretrainModule(make_config(ssl={"name": "jepa", "ema_momentum": 0.75}))
    target, context = module.encoder.teacher, module.get_encoder()
    before = [p.detach().clone() for p in target.parameters()]
    for t, c in zip(before, context.parameters(), strict=True):
        torch.testing.assert_close(t, c)  # the target starts as a copy
    trainer = make_trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=loaders[0])
    for t_before, t_after, c_after in zip(
        before, target.parameters(), context.parameters(), strict=True
    ):
        torch.testing.assert_close(t_after, 0.75 * t_before + 0.25 * c_after)
    assert any(not torch.equal(t, c) for t, c in zip(before, context.parameters(), strict=True))


def test_jepa_ema_updates_once_per_optimizer_step_with_accumulation(
    make_config: Any, loaders: tuple[Any, Any]
) -> None:
    module = SSLPretrainModule(make_config(ssl="jepa"))
    trainer = make_trainer(max_epochs=1, accumulate_grad_batches=2, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=loaders[0])  # 4 batches -> 2 optimizer steps
    assert int(module.encoder.num_updates) == 2
    assert module.encoder.followed is module.optimizer_entries[0].optimizer


def test_jepa_bad_momentum_is_named(make_config: Any) -> None:
    with pytest.raises(ValueError, match=r"ssl.ema_momentum=1.5"):
        SSLPretrainModule(make_config(ssl={"name": "jepa", "ema_momentum": 1.5}))
