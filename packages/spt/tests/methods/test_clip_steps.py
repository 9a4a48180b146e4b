"""Three CLIP steps through spt.Module equal the paper's pseudo-code written out by hand.

The reference follows Figure 3 of Radford et al. (2021): image and text features of the
batch, the linear projections ``W_i`` and ``W_t``, L2 normalisation, the logits
``I_e @ T_e.T * exp(t)`` with the learned temperature ``t`` (the scale clipped at 100, as
section 2.5 says), the symmetric cross-entropy with labels ``arange(n)``, then an optimizer
step of every parameter, ``t`` included. Both runs are in float64.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt_data import DIGIT_NAMES
from spt_module.testing import TwoViewImages, assert_same_weights, make_trainer

N, BATCH, STEPS = 24, 8, 3
EMBED, TEXT_DIM, PROJ = 8, 8, 6
CONTEXT = 28
OPTIM = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
TOL = {"rtol": 0.0, "atol": 1e-8}  # float64: the runs agree to ~1e-15
TOKENIZER = spt.backbone.ByteTokenizer(context_length=CONTEXT)


class ImageCaptions(Dataset[dict[str, Any]]):
    """Fixed float64 8x8 images, each with the caption of its label (i % 10)."""

    def __init__(self) -> None:
        self.images = TwoViewImages(N).views[:, 0]  # (N, 1, 8, 8)
        names = [DIGIT_NAMES[i % 10] for i in range(N)]
        self.text = TOKENIZER([f"a photo of the digit {name}" for name in names])  # (N, L)

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i], "text": self.text[i], "label": i % 10}

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        for start in range(0, STEPS * BATCH, BATCH):
            yield self.images[start : start + BATCH], self.text[start : start + BATCH]


def _build(log_scale: float) -> spt.Module:
    torch.manual_seed(0)
    module = spt.methods.clip(
        spt.backbone.SmallCNN(1, width=4, embed_dim=EMBED),
        EMBED,
        text_backbone=spt.backbone.TextTransformer(
            context_length=CONTEXT, dim=TEXT_DIM, depth=1, heads=2
        ),
        proj_dim=PROJ,
        optim={"optimizer": OPTIM, "scheduler": None},
    )
    with torch.no_grad():
        module.clip_loss.log_scale.fill_(log_scale)
    return module.double()


def _fit(module: spt.Module) -> None:
    loader = DataLoader(ImageCaptions(), batch_size=BATCH, shuffle=False)
    make_trainer(max_steps=STEPS).fit(module, loader)


class PseudoCode(nn.Module):
    """The parameters of Figure 3: both encoders, ``W_i``, ``W_t`` and ``t``."""

    def __init__(self, module: spt.Module) -> None:
        super().__init__()
        self.image_encoder = copy.deepcopy(module.backbone)
        self.text_encoder = copy.deepcopy(module.text_backbone)
        self.W_i = nn.Parameter(module.projector.weight.detach().clone().T)  # (d_i, d_e)
        self.W_t = nn.Parameter(module.text_projector.weight.detach().clone().T)  # (d_t, d_e)
        self.t = nn.Parameter(module.clip_loss.log_scale.detach().clone())


def clip_loop(net: PseudoCode, clip_at: float | None = 100.0) -> None:
    """Figure 3 of CLIP for STEPS steps, then ``optimizer.step()``; ``clip_at=None`` leaves
    the logit scale unclipped."""
    optimizer = torch.optim.SGD(net.parameters(), **{k: v for k, v in OPTIM.items() if k != "type"})
    for images, texts in ImageCaptions().batches():
        I_f = net.image_encoder(images)  # (n, d_i)
        T_f = net.text_encoder(texts)  # (n, d_t)
        I_e = F.normalize(I_f @ net.W_i, dim=1)  # (n, d_e)
        T_e = F.normalize(T_f @ net.W_t, dim=1)
        scale = torch.exp(net.t) if clip_at is None else torch.clamp(torch.exp(net.t), max=clip_at)
        logits = I_e @ T_e.T * scale  # (n, n)
        labels = torch.arange(images.shape[0])
        loss_i = F.cross_entropy(logits, labels)  # each image over the texts
        loss_t = F.cross_entropy(logits.T, labels)  # each text over the images
        loss = (loss_i + loss_t) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize(
    "log_scale", [math.log(1 / 0.07), math.log(120.0)], ids=["initial_scale", "clipped_scale"]
)
def test_clip_steps_match_plain_loop(log_scale: float) -> None:
    module = _build(log_scale)
    net = PseudoCode(module)
    initial = copy.deepcopy(net.state_dict())
    clip_loop(net)

    _fit(module)

    assert_same_weights(module.backbone, net.image_encoder, "backbone", **TOL)
    assert_same_weights(module.text_backbone, net.text_encoder, "text_backbone", **TOL)
    torch.testing.assert_close(module.projector.weight, net.W_i.T, **TOL)
    torch.testing.assert_close(module.text_projector.weight, net.W_t.T, **TOL)
    torch.testing.assert_close(module.clip_loss.log_scale, net.t, **TOL)
    assert module.clip_loss.log_scale.dtype == torch.float64
    moved = [k for k, v in initial.items() if not torch.equal(v, net.state_dict()[k])]
    assert "W_i" in moved
    assert "W_t" in moved
    assert any(k.startswith("text_encoder.blocks.") for k in moved)
    assert "t" in moved  # the temperature is learned
    if log_scale > math.log(100.0):  # above the clip no gradient reaches it: weight decay alone
        t, buffer = float(initial["t"]), 0.0
        for _ in range(STEPS):
            buffer = OPTIM["momentum"] * buffer + OPTIM["weight_decay"] * t
            t -= OPTIM["lr"] * buffer
        assert float(net.t.detach()) == pytest.approx(t, abs=1e-12)


def test_clip_loop_sees_the_clipped_logit_scale() -> None:
    """Above 100 the unclipped pseudo-code ends elsewhere: the clip is in effect."""
    module = _build(math.log(120.0))
    _fit(module)
    net = PseudoCode(_build(math.log(120.0)))
    clip_loop(net, clip_at=None)
    gap = (module.projector.weight - net.W_i.T).abs().max().item()
    assert gap > 1e-6


def test_clip_forward_outputs_for_the_callbacks() -> None:
    module = _build(math.log(1 / 0.07))
    batch = next(iter(DataLoader(ImageCaptions(), batch_size=4)))
    out = module.train()(batch, "fit")
    assert out["embedding"].shape == (4, EMBED)
    assert out["image_embedding"].shape == out["text_embedding"].shape == (4, PROJ)
    torch.testing.assert_close(
        out["image_embedding"].norm(dim=1), torch.ones(4, dtype=torch.float64)
    )
    assert out["label"].tolist() == [0, 1, 2, 3]
    assert out["loss"].ndim == 0
    images_only = {k: v for k, v in batch.items() if k != "text"}
    validated = module.eval()(images_only, "validate")
    assert "loss" not in validated
    assert validated["image_embedding"].shape == (4, PROJ)


def test_clip_forward_needs_captions_in_training() -> None:
    module = _build(math.log(1 / 0.07))
    batch = {"image": torch.zeros(2, 1, 8, 8, dtype=torch.float64), "label": torch.tensor([0, 1])}
    with pytest.raises(
        ValueError, match=r"no 'text' .*keys: \['image', 'label'\].*CaptionFromLabel"
    ):
        module.train()(batch, "fit")


def test_clip_forward_rejects_several_views() -> None:
    module = _build(math.log(1 / 0.07))
    view = {"image": torch.zeros(2, 1, 8, 8, dtype=torch.float64)}
    with pytest.raises(ValueError, match="a batch of 2 views; CLIP trains on one view"):
        module.train()([view, view], "fit")


def test_clip_builder_has_the_paper_projections_and_temperature() -> None:
    text = spt.backbone.TextTransformer(context_length=CONTEXT, dim=TEXT_DIM, depth=1, heads=2)
    module = spt.methods.clip(
        spt.backbone.SmallCNN(1, 4, embed_dim=EMBED), EMBED, text_backbone=text
    )
    assert module._forward_fn is spt.forward.clip is spt.forward.clip_forward
    for projection, width in [(module.projector, EMBED), (module.text_projector, TEXT_DIM)]:
        assert isinstance(projection, nn.Linear)
        assert (projection.in_features, projection.out_features) == (width, 512)
        assert projection.bias is None
    loss = module.clip_loss
    assert isinstance(loss, spt.losses.CLIPLoss)
    assert float(loss.log_scale.detach()) == pytest.approx(math.log(1 / 0.07))
    assert loss.max_scale == 100.0
    assert any(p is loss.log_scale for p in module.parameters())  # trained with the rest


def test_clip_builder_rejects_widths_the_encoders_do_not_output() -> None:
    image = spt.backbone.SmallCNN(1, 4, embed_dim=EMBED)
    text = spt.backbone.TextTransformer(context_length=CONTEXT, dim=TEXT_DIM, depth=1, heads=2)
    with pytest.raises(ValueError, match=r"text_dim=16 but the text backbone outputs 8"):
        spt.methods.clip(image, EMBED, text_backbone=text, text_dim=16)
    with pytest.raises(ValueError, match=r"does not state its output width .* pass text_dim="):
        spt.methods.clip(image, EMBED, text_backbone=nn.Embedding(300, 8))
    with pytest.raises(ValueError, match=r"embed_dim=4 but the backbone outputs 8"):
        spt.methods.clip(image, 4, text_backbone=text)


def test_clip_builder_docstring_example_runs() -> None:
    import doctest
    import importlib

    module = importlib.import_module("spt.methods._clip")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
