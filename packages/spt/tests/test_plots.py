"""Pictures: training curves from a real short fit, latent maps, spt plot, no matplotlib."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from PIL import Image

from spt.plots import (
    LatentMap,
    TrainingCurves,
    draw_latent_map,
    main,
    pca_2d,
    plot_comparison,
    plot_run,
    read_metrics,
)
from spt_module.testing import make_dataloader, make_module, make_trainer

CURVE = (640, 400)
LATENT = (500, 450)  # one PCA panel (umap-learn is not a test dependency)


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
        return image.size


def _fit(run: Path, *callbacks: Any, epochs: int = 2, **trainer: Any) -> None:
    torch.manual_seed(0)
    logger = CSVLogger(save_dir=str(run), name="logs", version="")  # the Manager's layout
    make_trainer(
        max_epochs=epochs, logger=logger, log_every_n_steps=1, callbacks=list(callbacks), **trainer
    ).fit(make_module(), make_dataloader(n=32, batch_size=8), make_dataloader(n=24, seed=1))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainingCurves, LatentMap]:
    run = tmp_path_factory.mktemp("run")
    curves, latent = TrainingCurves(), LatentMap(every_n_epochs=1, use_umap=False)
    _fit(run, curves, latent)
    return run, curves, latent


def test_training_curves_of_a_short_fit_are_pngs_in_the_run_plots_dir(
    fitted: tuple[Path, TrainingCurves, LatentMap],
) -> None:
    run, curves, _ = fitted
    names = sorted(p.name for p in curves.written)
    assert names == ["loss.png", "lr.png"]  # train/loss, hparams/lr_default
    for path in curves.written:
        assert path.parent == run / "plots"
        assert _png_size(path) == CURVE


def test_latent_map_every_epoch_is_a_png_named_for_the_epoch(
    fitted: tuple[Path, TrainingCurves, LatentMap],
) -> None:
    run, _, latent = fitted
    assert latent.written == [
        run / "plots" / "latent_epoch1.png",
        run / "plots" / "latent_epoch2.png",
    ]
    for path in latent.written:
        assert _png_size(path) == LATENT


def test_latent_map_every_n_epochs_skips_the_others(tmp_path: Path) -> None:
    latent = LatentMap(every_n_epochs=2, use_umap=False)
    _fit(tmp_path, latent, epochs=3, num_sanity_val_steps=1)
    assert [p.name for p in latent.written] == ["latent_epoch2.png"]


def test_spt_plot_redraws_a_run_directory(
    fitted: tuple[Path, TrainingCurves, LatentMap], tmp_path: Path
) -> None:
    run, _, _ = fitted
    assert main([str(run), "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png", "lr.png"]


def _csv(run: Path, rows: list[str]) -> Path:
    path = run / "logs" / "metrics.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(rows) + "\n")
    return run


def test_metrics_are_grouped_into_loss_accuracy_rank_lr_and_the_rest(tmp_path: Path) -> None:
    run = _csv(
        tmp_path / "run",
        [
            "epoch,hparams/lr_default,knn/val/top1,probe/val/top1,rankme/rankme,step,train/loss,val/loss,uniformity",
            "0,0.1,,,,0,2.0,,",
            "0,,0.3,0.2,5.0,1,,1.9,-1.0",
            "1,0.05,0.5,0.4,6.0,2,1.5,1.6,-1.5",
        ],
    )
    written = plot_run(run)
    assert sorted(p.name for p in written) == [
        "accuracy.png",
        "loss.png",
        "lr.png",
        "rank.png",
        "uniformity.png",
    ]
    series = read_metrics(run / "logs" / "metrics.csv")
    np.testing.assert_array_equal(series["train/loss"][0], [0.0, 2.0])  # empty cells skipped
    np.testing.assert_array_equal(series["train/loss"][1], [2.0, 1.5])


def test_spt_plot_compares_two_runs_one_figure_per_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _csv(tmp_path / "lr0.1", ["step,train/loss,knn/val/top1", "0,2.0,", "1,1.0,0.5"])
    b = _csv(tmp_path / "lr0.01", ["step,train/loss", "0,2.5", "1,2.0"])
    assert main([str(a), str(b)]) == 0
    out = a / "plots" / "compare"
    assert sorted(p.name for p in out.iterdir()) == ["knn_val_top1.png", "train_loss.png"]
    assert all(_png_size(p) == CURVE for p in out.iterdir())
    assert "2 plots in" in capsys.readouterr().out
    written = plot_comparison([a, b], tmp_path / "elsewhere")
    assert len(written) == 2


def test_spt_plot_of_a_folder_without_metrics_says_what_it_looked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path)]) == 2
    assert "no metrics.csv" in capsys.readouterr().err


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError


@pytest.mark.usefixtures("no_matplotlib")
def test_without_matplotlib_the_callbacks_log_one_line_and_draw_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    curves, latent = TrainingCurves(), LatentMap(use_umap=False)
    with caplog.at_level(logging.INFO, logger="spt"):
        _fit(tmp_path, curves, latent)
    lines = [r.getMessage() for r in caplog.records if r.name == "spt"]
    missing = 'matplotlib is not installed (pip install "spt[plots]")'
    assert lines == [
        f"LatentMap: no latent maps: {missing}",
        f"TrainingCurves: no training curves: {missing}",
    ]
    assert curves.written == []
    assert latent.written == []
    assert not (tmp_path / "plots").exists()


@pytest.mark.usefixtures("no_matplotlib")
def test_without_matplotlib_spt_plot_fails_naming_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _csv(tmp_path / "run", ["step,train/loss", "0,2.0"])
    assert main([str(run)]) == 2
    assert 'pip install "spt[plots]"' in capsys.readouterr().err


class _RecordingWandb(WandbLogger):
    """A WandbLogger that records images instead of starting wandb."""

    def __init__(self) -> None:
        self.images: list[tuple[str, list[Any], int | None]] = []

    def log_image(
        self, key: str, images: list[Any], step: int | None = None, **kwargs: Any
    ) -> None:
        self.images.append((key, images, step))

    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        pass

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def save(self) -> None:
        pass

    def finalize(self, status: str) -> None:
        pass

    @property
    def save_dir(self) -> str | None:
        return None

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> str:
        return "0"


def test_latent_map_is_logged_to_wandb_as_an_image(tmp_path: Path) -> None:
    wandb = _RecordingWandb()
    latent = LatentMap(use_umap=False, dirpath=tmp_path / "maps")
    torch.manual_seed(0)
    make_trainer(max_epochs=1, logger=[wandb], callbacks=[latent]).fit(
        make_module(), make_dataloader(n=16, batch_size=8), make_dataloader(n=8, seed=1)
    )
    assert wandb.images == [("latent_map", [str(tmp_path / "maps" / "latent_epoch1.png")], 2)]


def test_latent_map_with_an_unknown_key_lists_the_keys(tmp_path: Path) -> None:
    with pytest.raises(
        KeyError, match=r"'features' is not in the validation outputs \(keys: \['embedding'"
    ):
        _fit(tmp_path, LatentMap(input="features"), epochs=1)


def test_pca_2d_spans_the_top_two_principal_directions() -> None:
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(50, 6)) * np.array([5, 3, 1, 0.5, 0.2, 0.1])
    ours = pca_2d(x)
    reference = PCA(n_components=2).fit_transform(x)
    for i in range(2):  # the same axes up to a sign
        np.testing.assert_allclose(np.abs(ours[:, i]), np.abs(reference[:, i]), atol=1e-8)


def test_latent_map_with_many_classes_uses_a_colour_bar(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(60, 4))
    path = draw_latent_map(x, np.arange(60), tmp_path / "map.png", "sixty classes", use_umap=False)
    assert _png_size(path) == LATENT


@pytest.mark.parametrize("name", ["spt.plots", "spt.plots._latent", "spt.plots._callbacks"])
def test_docstring_examples_run(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
