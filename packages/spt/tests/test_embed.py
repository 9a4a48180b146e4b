"""Embeddings on disk: shards and manifest round-trip, resume, formats, bad input, spt embed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lightning as pl
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from spt.embed import EmbeddingWriter, main, read_embeddings
from spt.manager import save_backbone
from spt_module.testing import DictOutputModule, RandomDictDataset, make_trainer

EXAMPLE = Path(__file__).parents[3] / "examples" / "digits_embed.yaml"


def _export(
    out: Path, n: int = 23, batch_size: int = 4, shuffle: bool = False, **writer: Any
) -> tuple[EmbeddingWriter, DictOutputModule, RandomDictDataset]:
    torch.manual_seed(0)
    module = DictOutputModule(hidden=6)
    dataset = RandomDictDataset(n=n)
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
    embed_writer = EmbeddingWriter(out, **{"shard_size": 5, **writer})
    make_trainer(callbacks=[embed_writer]).predict(module, loader, return_predictions=False)
    return embed_writer, module, dataset


def _in_memory(module: DictOutputModule, dataset: RandomDictDataset) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {
            "embedding": module.backbone(dataset.x).numpy(),
            "label": dataset.label.numpy(),
            "sample_idx": np.arange(len(dataset)),
        }


def test_round_trip_gives_the_in_memory_arrays_sorted_by_sample_idx(tmp_path: Path) -> None:
    _, module, dataset = _export(tmp_path, shuffle=True)
    arrays = read_embeddings(tmp_path)
    expected = _in_memory(module, dataset)
    assert sorted(arrays) == ["embedding", "label", "sample_idx"]
    np.testing.assert_array_equal(arrays["sample_idx"], expected["sample_idx"])
    np.testing.assert_array_equal(arrays["label"], expected["label"])
    np.testing.assert_allclose(arrays["embedding"], expected["embedding"], rtol=1e-6, atol=1e-6)


def test_manifest_lists_keys_dtypes_shapes_shards_and_count(tmp_path: Path) -> None:
    _export(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["num_samples"] == 23
    assert manifest["keys"] == ["embedding", "label", "sample_idx"]
    assert manifest["dtypes"] == {"embedding": "float32", "label": "int64", "sample_idx": "int64"}
    assert manifest["shapes"] == {"embedding": [23, 6], "label": [23], "sample_idx": [23]}
    assert [s["num_samples"] for s in manifest["shards"]] == [5, 5, 5, 5, 3]
    for shard in manifest["shards"]:
        for file in shard["files"].values():
            assert (tmp_path / "shards" / file).is_file()


def test_sample_idx_is_written_even_when_not_asked_for(tmp_path: Path) -> None:
    _export(tmp_path, keys=["embedding"])
    assert sorted(read_embeddings(tmp_path)) == ["embedding", "sample_idx"]


def test_parquet_shards_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    _, module, dataset = _export(tmp_path, format="parquet")
    arrays = read_embeddings(tmp_path)
    expected = _in_memory(module, dataset)
    np.testing.assert_allclose(arrays["embedding"], expected["embedding"], rtol=1e-6, atol=1e-6)
    assert arrays["embedding"].dtype == np.float32
    np.testing.assert_array_equal(arrays["label"], expected["label"])


def test_safetensors_shards_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    _, module, dataset = _export(tmp_path, format="safetensors")
    arrays = read_embeddings(tmp_path)
    expected = _in_memory(module, dataset)
    np.testing.assert_allclose(arrays["embedding"], expected["embedding"], rtol=1e-6, atol=1e-6)


class _StopAfter(pl.Callback):
    """Kill the predict loop after ``n`` batches, as a crash would."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_predict_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx + 1 >= self.n:
            raise RuntimeError("killed")


def test_rerun_after_a_partial_write_keeps_complete_shards_and_writes_the_rest(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    module = DictOutputModule(hidden=6)
    dataset = RandomDictDataset(n=23)
    loader = DataLoader(dataset, batch_size=4)
    first = EmbeddingWriter(tmp_path, shard_size=5)
    with pytest.raises(RuntimeError, match="killed"):  # 3 batches = 12 rows: 2 shards of 5
        make_trainer(callbacks=[first, _StopAfter(3)]).predict(module, loader)
    assert not (tmp_path / "manifest.json").exists()
    (tmp_path / "shards" / ".r0-000002.embedding.npy.tmp").write_bytes(b"half a file")
    kept = {p.name: p.read_bytes() for p in (tmp_path / "shards").iterdir()}
    assert len([n for n in kept if n.endswith(".json")]) == 2

    second = EmbeddingWriter(tmp_path, shard_size=5)
    make_trainer(callbacks=[second]).predict(module, loader, return_predictions=False)
    assert second.num_new == 23 - 10
    for name, content in kept.items():  # nothing deleted or rewritten
        assert (tmp_path / "shards" / name).read_bytes() == content
    arrays = read_embeddings(tmp_path)
    np.testing.assert_array_equal(arrays["sample_idx"], np.arange(23))
    expected = _in_memory(module, dataset)
    np.testing.assert_allclose(arrays["embedding"], expected["embedding"], rtol=1e-6, atol=1e-6)


def test_rerun_of_a_finished_export_writes_nothing(tmp_path: Path) -> None:
    _export(tmp_path)
    shards = sorted(os.listdir(tmp_path / "shards"))
    again, _, _ = _export(tmp_path)
    assert again.num_new == 0
    assert sorted(os.listdir(tmp_path / "shards")) == shards
    assert len(read_embeddings(tmp_path)["sample_idx"]) == 23


def test_unknown_key_names_the_keys_the_forward_returned(tmp_path: Path) -> None:
    with pytest.raises(KeyError) as info:
        _export(tmp_path, keys=["embeddings"])
    message = str(info.value)
    assert "'embeddings'" in message
    assert "['embedding', 'label', 'logits', 'loss']" in message  # the predict outputs
    assert "['label', 'sample_idx', 'x']" in message  # the batch


def test_keys_with_different_row_counts_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"different numbers of rows.*'loss': 1"):
        _export(tmp_path, keys=["embedding", "loss"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keys": []}, "keys is empty"),
        ({"shard_size": 0}, "shard_size must be >= 1, got 0"),
        ({"format": "hdf5"}, r"format='hdf5' is unknown; use one of \['npy'"),
    ],
)
def test_bad_writer_arguments_name_the_argument(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        EmbeddingWriter(tmp_path, **kwargs)


def test_reading_an_unfinished_export_says_to_run_it_again(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no manifest\.json.*run it again"):
        read_embeddings(tmp_path)


def test_spt_embed_on_resume_embeds_only_the_missing_samples_in_order() -> None:
    from spt.embed._command import _predict_data

    dataset = RandomDictDataset(n=10)
    loader = DataLoader(dataset, batch_size=3, shuffle=True, drop_last=True)
    data = _predict_data(loader, None, "train", done={0, 1, 2, 7})
    batches = list(data.predict_dataloader())
    assert [int(i) for b in batches for i in b["sample_idx"]] == [3, 4, 5, 6, 8, 9]


@pytest.mark.slow
def test_spt_embed_writes_the_digits_with_a_saved_backbone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spt.backbone import SmallCNN

    torch.manual_seed(0)
    run = tmp_path / "run"
    holder = nn.Module()
    holder.backbone = SmallCNN(in_channels=1, width=16, embed_dim=64)
    save_backbone(holder, run / "backbone.pt")
    overrides = [f"embed.backbone={run}", "embed.split=val", "+trainer.enable_progress_bar=false"]
    assert main([str(EXAMPLE), *overrides]) == 0
    assert "360 samples of split 'val'" in capsys.readouterr().out
    arrays = read_embeddings(run / "embeddings" / "val")
    assert arrays["embedding"].shape == (360, 64)
    np.testing.assert_array_equal(arrays["sample_idx"], np.arange(360))
    assert set(np.unique(arrays["label"])) == set(range(10))


def test_spt_embed_with_a_backbone_that_does_not_fit_lists_the_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = nn.Module()
    holder.backbone = nn.Linear(3, 2)
    path = save_backbone(holder, tmp_path / "backbone.pt")
    assert main([str(EXAMPLE), f"embed.backbone={path}", f"embed.out={tmp_path}/e"]) == 2
    err = capsys.readouterr().err
    assert f"embed.backbone='{path}' does not fit module.backbone" in err
    assert "missing keys" in err
    assert "unexpected keys [bias, weight]" in err


def test_spt_embed_rejects_an_unknown_embed_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(EXAMPLE), "+embed.shards=3"]) == 2
    assert "unknown key(s) embed.['shards']; allowed:" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["spt.embed", "spt.embed._shards", "spt.embed._writer"])
def test_docstring_examples_run(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
