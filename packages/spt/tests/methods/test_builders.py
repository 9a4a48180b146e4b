"""spt.methods builders: the papers' heads and defaults, and one fit step on tiny images."""

from __future__ import annotations

import doctest
import importlib
from collections.abc import Callable
from typing import Any

import lightning as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt.ema import TeacherStudent
from spt_module.testing import make_trainer

SIZE, EMBED, CLASSES = 8, 8, 3


class TinyViews(Dataset[Any]):
    """Seeded 1-channel images; each sample is two noisy views with the sample's label."""

    def __init__(self, n: int = 16, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 1, SIZE, SIZE, generator=gen)
        self.noise = 0.1 * torch.randn(n, 2, 1, SIZE, SIZE, generator=gen)
        self.labels = torch.arange(n) % CLASSES

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> list[dict[str, Any]]:
        return [
            {"image": self.images[i] + self.noise[i, v], "label": int(self.labels[i])}
            for v in range(2)
        ]


class KeepOutputs(pl.Callback):
    """Keeps what each training step returned."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, *args: Any) -> None:
        self.outputs.append(outputs)


def _cnn() -> nn.Module:
    return spt.backbone.SmallCNN(in_channels=1, width=4, embed_dim=EMBED)


def _vit() -> nn.Module:
    return spt.backbone.VisionTransformer(
        img_size=SIZE, patch_size=4, in_channels=1, dim=EMBED, depth=1, heads=2
    )


# each builder with small heads, so that one fit step takes milliseconds
SMALL: dict[str, Callable[[], spt.Module]] = {
    "simclr": lambda: spt.methods.simclr(_cnn(), EMBED, hidden_dim=16, proj_dim=8),
    "byol": lambda: spt.methods.byol(_cnn(), EMBED, hidden_dim=16, proj_dim=8, pred_hidden_dim=16),
    "vicreg": lambda: spt.methods.vicreg(_cnn(), EMBED, hidden_dim=16, proj_dim=16),
    "barlow_twins": lambda: spt.methods.barlow_twins(_cnn(), EMBED, hidden_dim=16, proj_dim=16),
    "dino": lambda: spt.methods.dino(
        _cnn(), EMBED, hidden_dim=16, bottleneck_dim=8, out_dim=32, warmup_teacher_temp_epochs=0
    ),
    "supervised": lambda: spt.methods.supervised(_cnn(), EMBED, num_classes=CLASSES),
    "mae": lambda: spt.methods.mae(_vit(), EMBED, decoder_dim=8, decoder_depth=1, decoder_heads=2),
    "simsiam": lambda: spt.methods.simsiam(
        _cnn(), EMBED, hidden_dim=16, proj_dim=16, pred_hidden_dim=4
    ),
    "supcon": lambda: spt.methods.supcon(_cnn(), EMBED, hidden_dim=16, proj_dim=8),
    "ijepa": lambda: spt.methods.ijepa(_vit(), EMBED, predictor_dim=8, predictor_depth=1),
    "lejepa": lambda: spt.methods.lejepa(_cnn(), EMBED, hidden_dims=[16], proj_dim=8),
}
# the trained side of each method: these parameters must move in one step
TRAINED = {
    "simclr": ("backbone.", "projector."),
    "byol": ("backbone.student.", "projector.student.", "predictor."),
    "vicreg": ("backbone.", "projector."),
    "barlow_twins": ("backbone.", "projector."),
    "dino": ("backbone.student.", "projector.student.mlp."),
    "supervised": ("backbone.", "classifier."),
    "mae": ("backbone.blocks.", "decoder."),
    "simsiam": ("backbone.", "projector.", "predictor."),
    "supcon": ("backbone.", "projector."),
    "ijepa": ("backbone.student.blocks.", "predictor."),
    "lejepa": ("backbone.", "projector."),
}
SGD = {"optimizer": {"type": "SGD", "lr": 0.1}, "scheduler": None}


def _linear_widths(layers: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in layers.modules() if isinstance(m, nn.Linear)]


def test_every_builder_is_reachable_from_import_spt() -> None:
    assert set(SMALL) <= set(spt.methods.__all__)
    for name in SMALL:
        assert callable(getattr(spt.methods, name))


@pytest.mark.parametrize("method", sorted(SMALL))
def test_builder_module_runs_a_fit_step(method: str) -> None:
    torch.manual_seed(0)
    module = SMALL[method]()
    assert isinstance(module, spt.Module)
    assert module._forward_fn is getattr(spt.forward, method)
    module.optim = SGD
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    keep = KeepOutputs()
    loader = DataLoader(TinyViews(), batch_size=8)
    make_trainer(max_steps=1, callbacks=[keep]).fit(module, loader)

    outputs = keep.outputs
    assert len(outputs) == 1
    assert torch.isfinite(outputs[0]["loss"])
    assert outputs[0]["embedding"].shape[-1] == EMBED
    moved = {n for n, p in module.named_parameters() if not torch.equal(p.detach(), before[n])}
    for prefix in TRAINED[method]:
        assert any(n.startswith(prefix) for n in moved), (prefix, sorted(moved))


def test_simclr_has_the_paper_head_and_temperature() -> None:
    module = spt.methods.simclr(_cnn(), EMBED)
    assert _linear_widths(module.projector) == [(EMBED, 2048), (2048, 128)]
    assert isinstance(module.projector[1], nn.BatchNorm1d)
    assert module.simclr_loss.temperature == 0.5


def test_byol_has_the_paper_heads_and_momentum_schedule() -> None:
    module = spt.methods.byol(_cnn(), EMBED)
    assert isinstance(module.backbone, TeacherStudent)
    assert isinstance(module.projector, TeacherStudent)
    assert _linear_widths(module.projector.student) == [(EMBED, 4096), (4096, 256)]
    assert _linear_widths(module.predictor) == [(256, 4096), (4096, 256)]
    for pair in (module.backbone, module.projector):
        assert (pair.base_momentum, pair.final_momentum, pair.total_steps) == (0.99, 1.0, None)
    assert isinstance(module.byol_loss, spt.losses.NegativeCosineSimilarity)


def test_byol_keeps_a_teacher_student_backbone_as_given() -> None:
    pair = TeacherStudent(_cnn(), base_momentum=0.9)
    assert spt.methods.byol(pair, EMBED, hidden_dim=8, pred_hidden_dim=8).backbone is pair


def test_vicreg_has_the_paper_expander_and_weights() -> None:
    module = spt.methods.vicreg(_cnn(), EMBED)
    assert _linear_widths(module.projector) == [(EMBED, 8192), (8192, 8192), (8192, 8192)]
    loss = module.vicreg_loss
    assert (loss.sim_coeff, loss.std_coeff, loss.cov_coeff) == (25.0, 25.0, 1.0)


def test_barlow_twins_has_the_paper_projector_and_lambda() -> None:
    module = spt.methods.barlow_twins(_cnn(), EMBED)
    assert _linear_widths(module.projector) == [(EMBED, 8192), (8192, 8192), (8192, 8192)]
    assert module.barlow_twins_loss.lambd == 5e-3


def test_dino_has_the_paper_head_and_temperature_warmup() -> None:
    module = spt.methods.dino(_cnn(), EMBED)
    head = module.projector.student
    assert isinstance(head, spt.methods.DINOHead)
    assert _linear_widths(head.mlp) == [(EMBED, 2048), (2048, 2048), (2048, 256)]
    assert sum(isinstance(m, nn.GELU) for m in head.mlp) == 2
    gain = head.last_layer.parametrizations.weight.original0
    direction = head.last_layer.parametrizations.weight.original1
    assert tuple(direction.shape) == (65536, 256)
    assert head.last_layer.bias is None
    assert torch.equal(gain, torch.ones_like(gain))
    assert not gain.requires_grad  # norm_last_layer: the gains stay 1
    loss = module.dino_loss
    assert loss.out_dim == 65536
    assert loss.student_temp == 0.1
    assert loss.center_momentum == 0.9
    assert loss.teacher_temperature(0) == 0.04
    assert loss.teacher_temperature(30) == 0.07
    assert 0.04 < loss.teacher_temperature(15) < 0.07
    assert module.backbone.base_momentum == 0.996
    assert module.n_global_views == 2


def test_dino_head_rows_of_the_last_layer_have_unit_norm() -> None:
    head = spt.methods.DINOHead(EMBED, hidden_dim=16, bottleneck_dim=8, out_dim=32)
    with torch.no_grad():
        head.last_layer.parametrizations.weight.original1.mul_(3.0)
    norms = head.last_layer.weight.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_dino_head_batch_norm_normalises_hidden_units_over_every_token() -> None:
    torch.manual_seed(0)
    head = spt.methods.DINOHead(EMBED, hidden_dim=16, bottleneck_dim=8, out_dim=32, use_bn=True)
    head.double().train()
    tokens = torch.randn(3, 5, EMBED, dtype=torch.float64)  # (B, N, D) patch tokens
    linears = [m for m in head.mlp if isinstance(m, nn.Linear)]
    h = tokens.reshape(15, EMBED)  # the reference: every token of the batch in one norm
    for linear in linears[:2]:
        h = linear(h)
        h = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + 1e-5)  # gamma 1, beta 0
        h = nn.functional.gelu(h)
    z = nn.functional.normalize(linears[2](h), dim=-1)
    expected = (z @ head.last_layer.weight.T).reshape(3, 5, 32)
    torch.testing.assert_close(head(tokens), expected, rtol=0, atol=1e-12)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in spt.methods.DINOHead(EMBED).mlp)


@pytest.mark.parametrize("method", ["dino", "ibot", "dinov2"])
def test_use_bn_in_head_reaches_every_head_of_the_builder(method: str) -> None:
    if method == "dino":
        module = spt.methods.dino(_cnn(), EMBED, out_dim=16, use_bn_in_head=True)
    else:
        vit = spt.backbone.VisionTransformer(8, 4, 1, dim=EMBED, depth=1, heads=2, mask_token=True)
        module = getattr(spt.methods, method)(
            vit, EMBED, out_dim=16, patch_out_dim=16, min_mask_patches=1, use_bn_in_head=True
        )
    heads = [
        getattr(module, name) for name in ("projector", "patch_projector") if hasattr(module, name)
    ]
    assert len(heads) == (2 if method == "dinov2" else 1)
    for pair in heads:
        for side in (pair.student, pair.teacher):
            assert sum(isinstance(m, nn.BatchNorm1d) for m in side.mlp) == 2


def test_supervised_has_a_linear_head_and_cross_entropy() -> None:
    module = spt.methods.supervised(_cnn(), EMBED, num_classes=10)
    assert _linear_widths(module.classifier) == [(EMBED, 10)]
    assert isinstance(module.supervised_loss, nn.CrossEntropyLoss)


def test_mae_has_the_paper_decoder_mask_ratio_and_target() -> None:
    vit = spt.backbone.VisionTransformer(img_size=16, patch_size=4, in_channels=1, dim=32, heads=2)
    module = spt.methods.mae(vit, 32)
    decoder = module.decoder
    assert decoder.embed.out_features == 512
    assert len(decoder.blocks) == 8
    assert decoder.blocks[0].attn.num_heads == 16
    assert decoder.head.out_features == 4 * 4 * 1  # one gray 4x4 patch
    assert decoder.pos_embed.shape[1] == 1 + 16
    assert module.mask_ratio == 0.75
    assert module.mae_loss.norm_pix_loss is True


def test_simsiam_has_the_paper_projector_and_bottleneck_predictor() -> None:
    module = spt.methods.simsiam(_cnn(), EMBED)
    assert _linear_widths(module.projector) == [(EMBED, 2048), (2048, 2048), (2048, 2048)]
    norms = [m for m in module.projector if isinstance(m, nn.BatchNorm1d)]
    assert len(norms) == 3  # batch norm after every layer, the output one too
    assert not norms[-1].affine
    assert not isinstance(module.projector[-1], nn.ReLU)
    assert _linear_widths(module.predictor) == [(2048, 512), (512, 2048)]
    assert isinstance(module.predictor[1], nn.BatchNorm1d)
    assert isinstance(module.predictor[-1], nn.Linear)  # no batch norm on the output
    assert isinstance(module.simsiam_loss, spt.losses.NegativeCosineSimilarity)
    assert not any(isinstance(m, TeacherStudent) for m in module.modules())


def test_supcon_has_the_paper_head_and_temperature() -> None:
    module = spt.methods.supcon(_cnn(), EMBED)
    assert _linear_widths(module.projector) == [(EMBED, 2048), (2048, 128)]
    assert isinstance(module.supcon_loss, spt.losses.SupConLoss)
    assert module.supcon_loss.temperature == 0.1


def test_ijepa_has_the_paper_predictor_masks_and_momentum_schedule() -> None:
    vit = spt.backbone.VisionTransformer(16, 4, in_channels=1, dim=32, heads=2, class_token=False)
    module = spt.methods.ijepa(vit, 32)
    predictor = module.predictor
    assert _linear_widths(predictor.embed) == [(32, 384)]
    assert len(predictor.blocks) == 12
    assert predictor.blocks[0].attn.num_heads == 2  # the encoder's
    assert predictor.proj.out_features == 32
    masks = module.mask_generator
    assert masks.grid_size == (4, 4)
    assert masks.num_targets == 4
    assert (masks.target_scale, masks.target_aspect_ratio) == ((0.15, 0.2), (0.75, 1.5))
    assert (masks.context_scale, masks.context_aspect_ratio) == ((0.85, 1.0), (1.0, 1.0))
    assert module.ijepa_loss.distance == "smooth_l1"
    assert module.ijepa_loss.normalize_targets
    pair = module.backbone
    assert isinstance(pair, spt.methods.LinearMomentumTeacherStudent)
    assert (pair.base_momentum, pair.final_momentum) == (0.996, 1.0)
    pair.total_steps = 4
    pair.num_updates.fill_(2)
    assert pair.momentum == pytest.approx(0.998)  # linear, halfway from 0.996 to 1


def test_lejepa_has_the_paper_projector_and_lambda() -> None:
    module = spt.methods.lejepa(_cnn(), EMBED)
    assert _linear_widths(module.projector) == [(EMBED, 2048), (2048, 2048), (2048, 128)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in module.projector) == 2
    assert (module.lejepa_loss.lambd, module.lejepa_loss.sigreg.num_slices) == (0.05, 256)
    assert module.n_global_views == 2
    assert not any(isinstance(m, TeacherStudent) for m in module.modules())


def test_ijepa_rejects_a_backbone_that_cannot_drop_patches() -> None:
    with pytest.raises(TypeError, match=r"spt.methods.ijepa: the backbone \(SmallCNN\) has no"):
        spt.methods.ijepa(_cnn(), EMBED)


def test_builders_pass_optim_and_module_keywords_through() -> None:
    optim = {"optimizer": {"type": "SGD", "lr": 0.3}, "scheduler": None}
    module = spt.methods.simsiam(
        _cnn(), EMBED, optim=optim, hparams={"method": "simsiam"}, extra=nn.Linear(2, 2)
    )
    assert module.optim == optim
    assert module.hparams["method"] == "simsiam"
    assert isinstance(module.extra, nn.Linear)


def test_builder_rejects_an_embed_dim_the_backbone_does_not_output() -> None:
    with pytest.raises(ValueError, match=r"embed_dim=16 but the backbone outputs 8 .* embed_dim=8"):
        spt.methods.simclr(_cnn(), 16)
    with pytest.raises(ValueError, match=r"spt.methods.supcon: embed_dim=0"):
        spt.methods.supcon(nn.Identity(), 0)


def test_mae_rejects_a_backbone_that_cannot_mask_patches() -> None:
    with pytest.raises(TypeError, match=r"spt.methods.mae: the backbone \(SmallCNN\) has no"):
        spt.methods.mae(_cnn(), EMBED)


def test_supervised_needs_the_number_of_classes() -> None:
    with pytest.raises(ValueError, match="num_classes=1 must be >= 2"):
        spt.methods.supervised(_cnn(), EMBED, num_classes=1)


@pytest.mark.parametrize("name", sorted(f"spt.methods._{m}" for m in SMALL))
def test_builder_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
