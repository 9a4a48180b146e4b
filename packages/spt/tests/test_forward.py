"""The forward functions: multi-view training batches, single-view validation batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import spt
from spt.backbone import MAEDecoder, VisionTransformer
from spt.ema import TeacherStudent
from spt_module.testing import make_trainer

SIZE, DIM, PROJ, CLASSES = 8, 16, 8, 3


class ViewsDataset(Dataset[Any]):
    """Seeded images; each sample is a list of ``n_views`` noisy view dicts (or one dict)."""

    def __init__(self, n: int = 32, n_views: int = 2, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, SIZE, SIZE, generator=gen)
        self.noise = torch.randn(n, max(n_views, 1), 3, SIZE, SIZE, generator=gen) * 0.1
        self.labels = torch.randint(0, CLASSES, (n,), generator=gen)
        self.n_views = n_views

    def __len__(self) -> int:
        return len(self.images)

    def view(self, i: int, v: int) -> dict[str, Any]:
        return {
            "image": self.images[i] + self.noise[i, v],
            "label": int(self.labels[i]),
            "sample_idx": i,
        }

    def __getitem__(self, i: int) -> Any:
        if self.n_views == 0:  # validation: one view
            return {"image": self.images[i], "label": int(self.labels[i]), "sample_idx": i}
        return [self.view(i, v) for v in range(self.n_views)]


def _encoder() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(3 * SIZE * SIZE, DIM), nn.ReLU(), nn.Linear(DIM, DIM)
    )


def _components(method: str) -> dict[str, Any]:
    if method == "simclr":
        return {
            "backbone": _encoder(),
            "projector": nn.Linear(DIM, PROJ),
            "simclr_loss": spt.losses.NTXEntLoss(0.5),
        }
    if method == "vicreg":
        return {
            "backbone": _encoder(),
            "projector": nn.Linear(DIM, PROJ),
            "vicreg_loss": spt.losses.VICRegLoss(),
        }
    if method == "barlow_twins":
        return {
            "backbone": _encoder(),
            "projector": nn.Linear(DIM, PROJ),
            "barlow_twins_loss": spt.losses.BarlowTwinsLoss(),
        }
    if method == "byol":
        return {
            "backbone": TeacherStudent(_encoder()),
            "projector": TeacherStudent(spt.backbone.MLP(DIM, [DIM], PROJ)),
            "predictor": spt.backbone.MLP(PROJ, [DIM], PROJ),
            "byol_loss": spt.losses.NegativeCosineSimilarity(),
        }
    if method == "dino":
        return {
            "backbone": TeacherStudent(_encoder()),
            "projector": TeacherStudent(nn.Linear(DIM, 32)),
            "dino_loss": spt.losses.DINOLoss(out_dim=32),
        }
    if method == "supervised":
        return {
            "backbone": _encoder(),
            "classifier": nn.Linear(DIM, CLASSES),
            "supervised_loss": nn.CrossEntropyLoss(),
        }
    if method == "mae":
        return {
            "backbone": VisionTransformer(img_size=SIZE, patch_size=4, dim=DIM, depth=1, heads=2),
            "decoder": MAEDecoder(
                num_patches=4, encoder_dim=DIM, patch_dim=48, dim=DIM, depth=1, heads=2
            ),
            "mae_loss": spt.losses.MAELoss(),
        }
    raise AssertionError(method)


METHODS = ["simclr", "vicreg", "barlow_twins", "byol", "dino", "supervised", "mae"]
# Parameters that the loss must reach: the trained student side of each method.
TRAINED = {
    "simclr": ("backbone.", "projector."),
    "vicreg": ("backbone.", "projector."),
    "barlow_twins": ("backbone.", "projector."),
    "byol": ("backbone.student.", "projector.student.", "predictor."),
    "dino": ("backbone.student.", "projector.student."),
    "supervised": ("backbone.", "classifier."),
    "mae": ("backbone.", "decoder."),
}


def _module(method: str) -> spt.Module:
    torch.manual_seed(0)
    forward: Callable[..., Any] = getattr(spt.forward, f"{method}_forward")
    return spt.Module(
        forward=forward,
        optim={"optimizer": {"type": "SGD", "lr": 0.05}, "scheduler": None},
        **_components(method),
    )


def _batch(n_views: int, n: int = 8) -> Any:
    samples = [ViewsDataset(n=n, n_views=n_views)[i] for i in range(n)]
    return torch.utils.data.default_collate(samples)


@pytest.mark.parametrize("method", METHODS)
def test_multi_view_batch_gives_a_loss_with_gradients_on_trained_parameters(method: str) -> None:
    module = _module(method).train()
    out = module(_batch(n_views=2), "fit")
    loss = out["loss"]
    assert loss.ndim == 0
    assert torch.isfinite(loss)
    loss.backward()
    for name, param in module.named_parameters():
        if name.startswith(TRAINED[method]):
            assert param.grad is not None, f"{method}: no gradient on {name}"
        elif ".teacher." in name:
            assert param.grad is None, f"{method}: teacher {name} got a gradient"
            assert not param.requires_grad
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


@pytest.mark.parametrize("method", METHODS)
def test_single_view_validation_batch_gives_embedding_and_label(method: str) -> None:
    module = _module(method).eval()
    batch = _batch(n_views=0)
    with torch.no_grad():
        out = module(batch, "validate")
    expected_dim = CLASSES if method == "supervised" else DIM
    if method == "supervised":
        assert out["logits"].shape == (8, CLASSES)
        expected_dim = DIM
    assert out["embedding"].shape == (8, expected_dim)
    assert torch.equal(out["label"], batch["label"])


def test_multi_view_embedding_stacks_views_and_labels() -> None:
    module = _module("simclr")
    batch = _batch(n_views=3)
    out = module(batch, "fit")
    assert out["embedding"].shape == (24, DIM)
    assert torch.equal(out["label"], torch.cat([view["label"] for view in batch]))


def test_simclr_single_dict_batch_folds_views_by_sample_idx() -> None:
    # A RepeatedRandomSampler-style batch: each sample twice in one dict.
    module = _module("simclr")
    data = ViewsDataset(n=4, n_views=2)
    samples = [data.view(i, v) for v in range(2) for i in range(4)]
    out = module(torch.utils.data.default_collate(samples), "fit")
    assert torch.isfinite(out["loss"])


def test_non_dict_batch_names_the_method() -> None:
    module = _module("vicreg")
    with pytest.raises(ValueError, match="vicreg_forward: batch must be a dict"):
        spt.forward.vicreg_forward(module, torch.zeros(2, 3), "fit")


def test_missing_component_says_how_to_pass_it() -> None:
    module = spt.Module(forward=spt.forward.simclr_forward, backbone=_encoder())
    with pytest.raises(AttributeError, match=r"spt.Module\(projector=...\)"):
        module(_batch(n_views=2), "fit")


def test_byol_needs_teacher_student_components() -> None:
    module = spt.Module(
        forward=spt.forward.byol_forward,
        backbone=_encoder(),
        projector=nn.Linear(DIM, PROJ),
        predictor=nn.Linear(PROJ, PROJ),
        byol_loss=spt.losses.NegativeCosineSimilarity(),
    )
    with pytest.raises(TypeError, match="TeacherStudent"):
        module(_batch(n_views=2), "fit")


class _LossRecorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.losses.append(float(outputs["loss"]))


@pytest.mark.parametrize("method", METHODS)
def test_trains_with_module_and_trainer(method: str) -> None:
    module = _module(method)
    before = {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}
    recorder = _LossRecorder()
    train = DataLoader(ViewsDataset(n=24, n_views=2), batch_size=8)
    val = DataLoader(ViewsDataset(n=8, n_views=0), batch_size=8)
    trainer = make_trainer(max_epochs=2, callbacks=[recorder], limit_val_batches=1)
    trainer.fit(module, train, val)
    assert len(recorder.losses) == 6
    assert all(torch.isfinite(torch.tensor(recorder.losses)))
    changed = [
        n for n, p in module.named_parameters() if n in before and not torch.equal(p, before[n])
    ]
    assert any(n.startswith(TRAINED[method]) for n in changed), f"{method}: nothing trained"


def test_dino_multi_crop_teacher_sees_only_global_views() -> None:
    torch.manual_seed(0)
    module = spt.Module(
        forward=spt.forward.dino_forward,
        backbone=TeacherStudent(spt.backbone.SmallCNN(3, width=4, embed_dim=DIM)),
        projector=TeacherStudent(nn.Linear(DIM, 32)),
        dino_loss=spt.losses.DINOLoss(out_dim=32),
    ).train()
    seen: list[tuple[int, ...]] = []
    module.backbone.teacher.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    center = module.dino_loss.center.clone()
    views = [{"image": torch.randn(4, 3, SIZE, SIZE)} for _ in range(2)]
    views += [{"image": torch.randn(4, 3, 4, 4)} for _ in range(3)]  # local crops
    out = module(views, "fit")
    assert torch.isfinite(out["loss"])
    assert seen == [(8, 3, SIZE, SIZE)]  # the two global views, in one batched call
    # the callbacks see the global views only: local crops are not comparable with full images
    assert out["embedding"].shape == (8, DIM)
    assert not torch.equal(module.dino_loss.center, center)  # centre moved in fit
