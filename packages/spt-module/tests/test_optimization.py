"""Manual optimization: accumulation, frequency, zero_grad, clipping, the backward hook."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from spt_module import Module
from spt_module._clipping import Clipping, resolve_clipping
from spt_module._trainer_settings import TrainerSettings
from spt_module.testing import RandomDictDataset, make_dataloader, make_trainer
from spt_optim import OptimizerEntry


def linear_forward(self, batch, stage):
    logits = self.net(batch["x"].double())
    return {"loss": nn.functional.cross_entropy(logits, batch["label"]), "logits": logits}


def make_linear_module(optim, **kwargs):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    return Module(forward=linear_forward, net=net, optim=optim, **kwargs)


SGD = {"optimizer": {"type": "SGD", "lr": 0.5}, "scheduler": None}


def reference_steps(net, groups, n, lr=0.5, clip=None):
    """Plain SGD, one step per group of sample indices, on the loss summed / denominator."""
    data = RandomDictDataset(n=n)  # the labels depend on n: use the loader's n
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for indices, denominator in groups:
        x = data.x[indices].double()
        y = data.label[indices]
        loss = nn.functional.cross_entropy(net(x), y, reduction="sum") / denominator
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            clip(net.parameters())
        opt.step()
    return net


def assert_same_parameters(a, b, atol=1e-10):
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=atol, rtol=0, msg=name)


def test_accumulation_matches_large_batch():
    module = make_linear_module(SGD)
    reference = reference_steps(
        copy.deepcopy(module.net), [(slice(0, 16), 16), (slice(16, 32), 16)], n=32
    )
    make_trainer(accumulate_grad_batches=4).fit(module, make_dataloader(n=32, batch_size=4))
    assert_same_parameters(module.net, reference)


def test_accumulation_steps_on_last_batch_of_epoch():
    # 24 samples in batches of 4 with N=4: a full group, then a group of 2 batches that
    # still steps at the end of the epoch, scaled by 1/N like Lightning does.
    module = make_linear_module(SGD)
    reference = reference_steps(
        copy.deepcopy(module.net), [(slice(0, 16), 16), (slice(16, 24), 16)], n=24
    )
    trainer = make_trainer(accumulate_grad_batches=4)
    trainer.fit(module, make_dataloader(n=24, batch_size=4))
    assert_same_parameters(module.net, reference)
    assert trainer.global_step == 2


def test_trainer_accumulation_and_clipping_are_taken_over_before_lightning_check():
    module = make_linear_module(SGD)
    trainer = make_trainer(
        accumulate_grad_batches=3, gradient_clip_val=0.5, gradient_clip_algorithm="value"
    )
    trainer.fit(module, make_dataloader(n=24, batch_size=4))  # Lightning alone raises here
    assert (trainer.accumulate_grad_batches, trainer.gradient_clip_val) == (1, None)
    settings = module.trainer_settings
    assert settings.accumulate_grad_batches == 3
    assert settings.gradient_clip_val == 0.5
    assert settings.gradient_clip_algorithm == "value"
    assert trainer.global_step == 2  # 6 batches / 3


def test_second_fit_on_same_trainer_keeps_taken_over_settings():
    module = make_linear_module(SGD)
    trainer = make_trainer(accumulate_grad_batches=2, max_epochs=1)
    trainer.fit(module, make_dataloader(n=16, batch_size=4))
    trainer.fit_loop.max_epochs = 2
    trainer.fit(module, make_dataloader(n=16, batch_size=4))
    assert module.trainer_settings.accumulate_grad_batches == 2
    assert trainer.global_step == 4


def per_optimizer_forward(self, batch, stage):
    logits = self.head(torch.tanh(self.backbone(batch["x"].double())))
    return {"loss": nn.functional.cross_entropy(logits, batch["label"])}


def test_frequency_steps_and_zero_grad_only_on_stepped_optimizers():
    torch.manual_seed(0)
    backbone, head = nn.Linear(8, 5).double(), nn.Linear(5, 3).double()
    optim = {
        "bb": {"modules": "backbone", "optimizer": {"type": "SGD", "lr": 0.3}, "scheduler": None},
        "hd": {
            "modules": "head",
            "optimizer": {"type": "SGD", "lr": 0.7},
            "scheduler": None,
            "frequency": 2,
        },
    }
    module = Module(
        forward=per_optimizer_forward,
        backbone=copy.deepcopy(backbone),
        head=copy.deepcopy(head),
        optim=optim,
    )
    trainer = make_trainer()
    trainer.fit(module, make_dataloader(n=24, batch_size=4))

    # Slow reference: the head's gradients add up over two batches before it steps.
    data = RandomDictDataset(n=24)
    opt_b = torch.optim.SGD(backbone.parameters(), lr=0.3)
    opt_h = torch.optim.SGD(head.parameters(), lr=0.7)
    for i in range(6):
        x, y = data.x[4 * i : 4 * i + 4].double(), data.label[4 * i : 4 * i + 4]
        nn.functional.cross_entropy(head(torch.tanh(backbone(x))), y).backward()
        opt_b.step()
        opt_b.zero_grad()
        if (i + 1) % 2 == 0:
            opt_h.step()
            opt_h.zero_grad()
    assert_same_parameters(module.backbone, backbone)
    assert_same_parameters(module.head, head)
    assert module._counters.optimizer_steps == {"bb": 6, "hd": 3}
    assert trainer.global_step == 9


@pytest.mark.parametrize(
    ("algorithm", "clip"),
    [
        ("value", lambda ps: nn.utils.clip_grad_value_(ps, 0.01)),
        ("norm", lambda ps: nn.utils.clip_grad_norm_(ps, 0.01)),
    ],
)
def test_clipping_from_trainer(algorithm, clip):
    module = make_linear_module(SGD)
    reference = reference_steps(
        copy.deepcopy(module.net), [(slice(0, 8), 8), (slice(8, 16), 8)], n=16, clip=clip
    )
    trainer = make_trainer(gradient_clip_val=0.01, gradient_clip_algorithm=algorithm)
    trainer.fit(module, make_dataloader(n=16, batch_size=8))
    assert_same_parameters(module.net, reference)


def test_clipping_override_per_optimizer():
    optim = {**SGD, "gradient_clip_val": 0.02, "gradient_clip_algorithm": "norm"}
    module = make_linear_module(optim)
    reference = reference_steps(
        copy.deepcopy(module.net),
        [(slice(0, 8), 8), (slice(8, 16), 8)],
        n=16,
        clip=lambda ps: nn.utils.clip_grad_norm_(ps, 0.02),
    )
    trainer = make_trainer(gradient_clip_val=0.01, gradient_clip_algorithm="value")
    trainer.fit(module, make_dataloader(n=16, batch_size=8))
    assert_same_parameters(module.net, reference)


class RecordingModule(Module):
    def after_manual_backward(self):
        grad = self.net[0].weight.grad
        self.seen.append((grad is not None, self.net[0].weight.detach().clone()))


def test_after_manual_backward_runs_before_the_step():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    module = RecordingModule(forward=linear_forward, net=net, optim=SGD)
    module.seen = []
    before = net[0].weight.detach().clone()
    make_trainer().fit(module, make_dataloader(n=8, batch_size=4))
    assert [has_grad for has_grad, _ in module.seen] == [True, True]
    torch.testing.assert_close(module.seen[0][1], before)  # not stepped yet at the hook
    assert not torch.equal(module.seen[1][1], before)


def test_bf16_mixed_precision_matches_a_hand_written_autocast_loop():
    module = make_linear_module(SGD)
    module.net.float()
    module._forward_fn = lambda self, batch, stage: {
        "loss": nn.functional.cross_entropy(self.net(batch["x"]).float(), batch["label"])
    }
    reference = copy.deepcopy(module.net)
    before = [p.detach().clone() for p in module.parameters()]
    make_trainer(precision="bf16-mixed", accumulate_grad_batches=2).fit(
        module, make_dataloader(n=16, batch_size=4)
    )
    assert all(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
    data = RandomDictDataset(n=16)
    opt = torch.optim.SGD(reference.parameters(), lr=0.5)
    for start in range(0, 16, 4):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = reference(data.x[start : start + 4])
        loss = nn.functional.cross_entropy(out.float(), data.label[start : start + 4])
        (loss / 2).backward()
        if start % 8 == 4:
            opt.step()
            opt.zero_grad()
    for p, q in zip(module.net.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_16_mixed_clipping_unscales_first():
    module = make_linear_module(SGD)
    module.net.float()
    module._forward_fn = lambda self, batch, stage: {
        "loss": nn.functional.cross_entropy(self.net(batch["x"]).float(), batch["label"])
    }
    reference = copy.deepcopy(module.net).cuda()
    module_init = [p.detach().clone() for p in module.net.parameters()]
    trainer = make_trainer(
        accelerator="gpu",
        precision="16-mixed",
        gradient_clip_val=0.01,
        gradient_clip_algorithm="value",
    )
    trainer.fit(module, make_dataloader(n=8, batch_size=8))
    # Reference: what 16-mixed means, by hand: scaled backward, unscale, clip, scaler step.
    data = RandomDictDataset(n=8)
    opt = torch.optim.SGD(reference.parameters(), lr=0.5)
    scaler = torch.amp.GradScaler("cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        out = reference(data.x.cuda())
    scaler.scale(nn.functional.cross_entropy(out.float(), data.label.cuda())).backward()
    scaler.unscale_(opt)
    nn.utils.clip_grad_value_(reference.parameters(), 0.01)
    scaler.step(opt)
    scaler.update()
    assert any(
        not torch.equal(p.detach().cpu(), q)
        for p, q in zip(reference.parameters(), module_init, strict=True)
    )
    for p, q in zip(module.net.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.cuda(), q, atol=1e-3, rtol=1e-3)


def _entry(clip_val=None, algorithm=None):
    return OptimizerEntry(
        "enc",
        torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1),
        None,
        gradient_clip_val=clip_val,
        gradient_clip_algorithm=algorithm,
    )


def test_clipping_resolves_the_entry_override_before_the_trainer_setting():
    trainer = TrainerSettings(gradient_clip_val=2.0, gradient_clip_algorithm="value")
    assert resolve_clipping(_entry(), trainer) == Clipping(2.0, "value")
    assert resolve_clipping(_entry(0.5), trainer) == Clipping(0.5, "norm")
    assert resolve_clipping(_entry(algorithm="norm"), trainer) == Clipping(2.0, "norm")
    assert resolve_clipping(_entry(), TrainerSettings()) == Clipping(None, "norm")


def test_unknown_clipping_algorithm_names_the_optimizer():
    with pytest.raises(ValueError, match="optimizer 'enc': gradient_clip_algorithm='l2'"):
        resolve_clipping(_entry(1.0, "L2"), TrainerSettings())
    with pytest.raises(ValueError, match="algorithm='l2' is not supported"):
        Clipping(1.0, "l2")
