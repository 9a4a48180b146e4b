"""Fine-tuning's optimizer: layer-wise lr decay over the blocks of a ViT, one AdamW otherwise."""

from __future__ import annotations

import pytest
from torch import nn

import spt
from spt.eval import finetune_optim
from spt_optim import TrainingLength, build_optimizers


def _module(backbone: nn.Module, dim: int) -> nn.Module:
    module = nn.Module()
    module.backbone = backbone
    module.classifier = nn.Linear(dim, 3)
    return module


def _lr_of_every_parameter(module: nn.Module, optim: object) -> dict[str, float]:
    entries = build_optimizers(module, optim, TrainingLength(max_epochs=1, batches_per_epoch=4))
    return {
        name: float(entry.optimizer.defaults["lr"])
        for entry in entries
        for name in entry.parameter_names
    }


def test_vit_blocks_get_layer_wise_decayed_learning_rates() -> None:
    vit = spt.backbone.VisionTransformer(
        img_size=8, patch_size=4, in_channels=1, dim=8, depth=3, heads=2
    )
    module = _module(vit, 8)
    lrs = _lr_of_every_parameter(
        module, finetune_optim(vit, lr=1.0, weight_decay=0.05, layer_decay=0.5)
    )
    assert set(lrs) == {n for n, _ in module.named_parameters()}  # every parameter, once
    for name, lr in lrs.items():
        if name.startswith(("classifier.", "backbone.norm.")):
            expected = 1.0
        elif name.startswith("backbone.blocks."):
            block = int(name.split(".")[2])
            expected = 0.5 ** (3 - block)
        else:  # patch embedding, class token, position embedding
            expected = 0.5**4
        assert lr == pytest.approx(expected), name


def test_other_backbones_get_one_adamw_with_warmup_and_cosine() -> None:
    cnn = spt.backbone.SmallCNN(in_channels=1, width=4, embed_dim=8)
    entries = build_optimizers(
        _module(cnn, 8),
        finetune_optim(cnn, lr=1e-3, weight_decay=0.05),
        TrainingLength(max_epochs=1, batches_per_epoch=4),
    )
    assert [type(e.optimizer).__name__ for e in entries] == ["AdamW"]
    assert type(entries[0].scheduler).__name__ == "LinearWarmupCosineAnnealing"
    decays = sorted({g["weight_decay"] for g in entries[0].optimizer.param_groups})
    assert decays == [0.0, 0.05]  # biases and norms are not decayed
