"""``spt embed CONFIG.yaml [key=value ...]``: embeddings of a dataset to disk (Trainer.predict)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["EMBED_KEYS", "USAGE", "main", "run_embed"]

log = logging.getLogger("spt")

USAGE = """\
usage: spt embed CONFIG.yaml [OVERRIDE ...]

Write chosen keys of the forward output (embedding, label, sample_idx) for one split of the
data to disk in shards, with Trainer.predict (any device, DDP: every sample once). The config
has the sections trainer, module and data of a training config, and an `embed` section:

  embed:
    backbone: spt_runs/RUN      # backbone.pt, a run directory or a Lightning .ckpt; null: as built
    split: val                  # the DataLoader of `data` to embed: train, val, test or predict
    out: null                   # default RUN/embeddings/SPLIT (or ./embeddings/SPLIT)
    keys: [embedding, label, sample_idx]
    shard_size: 4096
    format: npy                 # npy, safetensors (if installed), parquet (if datasets is)

  spt embed examples/digits_embed.yaml embed.backbone=spt_runs/digits
  spt embed examples/digits_embed.yaml embed.backbone=spt_runs/digits embed.split=val

A rerun into the same folder keeps complete shards and embeds only the missing samples.
Read the result with spt.embed.read_embeddings(FOLDER).
"""

EMBED_KEYS = ("backbone", "split", "out", "keys", "shard_size", "format", "attribute")
SPLITS = ("train", "val", "test", "predict")
_SETUP_STAGE = {"train": "fit", "val": "validate", "test": "test", "predict": "predict"}


class EmbedError(Exception):
    """A problem in the command line or the config; the message says what to change."""


def _settings(cfg: Any, file: str) -> dict[str, Any]:
    from omegaconf import DictConfig, OmegaConf

    node = cfg.get("embed")
    if node is None:
        raise EmbedError(f"{file}: no 'embed' section; spt embed needs one (see spt embed --help)")
    if not isinstance(node, DictConfig):
        raise EmbedError(f"{file}: 'embed' must be a mapping, got {node!r}")
    settings: dict[str, Any] = OmegaConf.to_container(node, resolve=True)  # type: ignore[assignment]
    unknown = sorted(set(settings) - set(EMBED_KEYS))
    if unknown:
        raise EmbedError(f"{file}: unknown key(s) embed.{unknown}; allowed: {list(EMBED_KEYS)}")
    split = settings.setdefault("split", "val")
    if split not in SPLITS:
        raise EmbedError(f"{file}: embed.split={split!r}; use one of {list(SPLITS)}")
    return settings


def _load_backbone(module: Any, settings: Mapping[str, Any]) -> Path | None:
    """Load ``embed.backbone`` into ``module.<embed.attribute>``; returns the weights file."""
    from spt.export import load_backbone, resolve_weights

    if settings.get("backbone") is None:
        log.warning("spt embed: embed.backbone is null: embedding with the module as built")
        return None
    attribute = settings.get("attribute") or "backbone"
    network = getattr(module, attribute, None)
    if network is None:
        raise EmbedError(f"embed.attribute={attribute!r}: the module has no such network")
    try:
        path = resolve_weights(settings["backbone"])
        load_backbone(network, path, attribute=attribute)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise EmbedError(
            f"embed.backbone={str(settings['backbone'])!r} does not fit module.{attribute}: {exc}"
        ) from None
    return path


def _loader(data: Any, split: str) -> Any:
    data.prepare_data()
    data.setup(_SETUP_STAGE[split])
    try:
        loader = getattr(data, f"{split}_dataloader")()
    except Exception as exc:  # Lightning's "no {split}_dataloader() method defined"
        raise EmbedError(
            f"embed.split={split!r}: the data has no {split} DataLoader ({exc}); set "
            f"data.{split} or choose another embed.split"
        ) from None
    if loader is None:
        raise EmbedError(f"embed.split={split!r}: the data gives no {split} DataLoader")
    return loader


def _positions_are_sample_idx(dataset: Any) -> bool:
    """Whether ``dataset[i]["sample_idx"] == i`` (checked on the first and the last sample)."""
    try:
        n = len(dataset)
        return n > 0 and all(int(dataset[i]["sample_idx"]) == i for i in (0, n - 1))
    except Exception:
        return False


def _predict_data(loader: Any, data: Any, split: str, done: set[int]) -> Any:
    """A DataModule over ``loader``'s dataset in order, without the samples already on disk."""
    from torch.utils.data import DataLoader, Subset

    from spt_data import DataModule

    dataset = loader.dataset
    if done and _positions_are_sample_idx(dataset):
        dataset = Subset(dataset, [i for i in range(len(dataset)) if i not in done])
    ordered = DataLoader(
        dataset,
        batch_size=loader.batch_size or 256,
        shuffle=False,
        drop_last=False,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
    )
    gpu = getattr(data, "gpu_transform", None)
    if isinstance(gpu, Mapping):
        gpu = gpu.get(split)
    return DataModule(predict=ordered, gpu_transform=gpu)


def _out_dir(settings: Mapping[str, Any]) -> Path:
    if settings.get("out"):
        return Path(settings["out"])
    backbone = settings.get("backbone")
    base = Path(backbone) if backbone is not None and Path(backbone).is_dir() else Path.cwd()
    return base / "embeddings" / str(settings["split"])


def run_embed(cfg: Any, file: str) -> dict[str, Any]:
    """Build what ``cfg`` describes and write the embeddings; returns the manifest.

    Raises:
        EmbedError: For a missing or bad ``embed`` setting, backbone file or split.
        spt._hydra.ConfigError: For a missing section or a ``_target_`` that fails.
    """
    import json

    import lightning as pl

    from spt._hydra import check_sections, check_targets, instantiate_section
    from spt.embed._shards import MANIFEST, complete_shards, read_shard
    from spt.embed._writer import EmbeddingWriter

    settings = _settings(cfg, file)
    check_sections(cfg, file)
    check_targets(cfg, file)
    seed = (cfg.get("manager") or {}).get("seed")
    if seed is not None:
        pl.seed_everything(int(seed), workers=True)
    out = _out_dir(settings)
    writer = EmbeddingWriter(
        out,
        keys=settings.get("keys") or ("embedding", "label", "sample_idx"),
        shard_size=int(settings.get("shard_size") or 4096),
        format=str(settings.get("format") or "npy"),
    )
    module = instantiate_section(cfg, "module", file)
    path = _load_backbone(module, settings)
    data = instantiate_section(cfg, "data", file)
    split = str(settings["split"])
    loader = _loader(data, split)
    done: set[int] = set()
    for marker in complete_shards(out):
        done.update(int(i) for i in read_shard(out, marker, keys=["sample_idx"])["sample_idx"])
    extra = {
        k: v
        for k, v in (("logger", False), ("enable_checkpointing", False))
        if k not in cfg.trainer
    }
    trainer = instantiate_section(cfg, "trainer", file, **extra)
    trainer.callbacks.append(writer)
    trainer.predict(
        module, datamodule=_predict_data(loader, data, split, done), return_predictions=False
    )
    manifest: dict[str, Any] = json.loads((out / MANIFEST).read_text())
    if trainer.is_global_zero:
        expected = len(loader.dataset) if hasattr(loader.dataset, "__len__") else None
        print(
            f"spt embed: {manifest['num_samples']} samples of split {split!r} "
            f"({writer.num_new} new on rank 0) in {len(manifest['shards'])} shards: {out}"
            + (f" (backbone {path})" if path is not None else " (backbone as built)")
        )
        if expected is not None and manifest["num_samples"] != expected:
            log.warning(
                "spt embed: the %s split has %d samples but %d are on disk",
                split,
                expected,
                manifest["num_samples"],
            )
    return manifest


def main(argv: Sequence[str]) -> int:
    """Run ``spt embed``; returns the exit status.

    Args:
        argv: The arguments after ``spt embed``: the config file, then Hydra overrides.
    """
    args = list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if args else 2
    config, overrides = Path(args[0]), args[1:]
    if config.suffix not in (".yaml", ".yml") or not config.is_file():
        print(f"spt embed: error: config file '{config}' not found (a .yaml file)", file=sys.stderr)
        return 2
    from hydra.errors import HydraException

    from spt._hydra import compose_config

    try:
        cfg = compose_config(config, overrides)
        run_embed(cfg, str(config))
    except (EmbedError, HydraException, KeyError, ValueError, ImportError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"spt embed: error: {message}", file=sys.stderr)
        return 2
    return 0
