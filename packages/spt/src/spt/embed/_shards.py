"""Shard files on disk: one folder of shards, a marker per complete shard, and a manifest.

Layout of an export folder::

    manifest.json                 keys, dtypes, shapes, shard list, sample count (rank 0 writes it)
    shards/r0-000000.json         marker: written last, so a shard with a marker is complete
    shards/r0-000000.embedding.npy   one file per key ("npy"), or
    shards/r0-000000.safetensors     one file for all keys ("safetensors"), or
    shards/r0-000000.parquet         one table for all keys ("parquet")

Every file is written to a temporary name and moved into place, so a process killed in the
middle leaves no half-written file under a final name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMATS",
    "MANIFEST",
    "check_format",
    "complete_shards",
    "read_embeddings",
    "read_shard",
    "write_manifest",
    "write_shard",
]

FORMATS = ("npy", "safetensors", "parquet")
MANIFEST = "manifest.json"
SHARDS = "shards"
MANIFEST_VERSION = 1


def check_format(fmt: str) -> None:
    """Raise when ``fmt`` is unknown or its library is not installed."""
    if fmt not in FORMATS:
        raise ValueError(f"EmbeddingWriter: format={fmt!r} is unknown; use one of {list(FORMATS)}")
    if fmt == "safetensors":
        try:
            import safetensors.numpy  # noqa: F401
        except ImportError:
            raise ImportError(
                "EmbeddingWriter: format='safetensors' needs the safetensors package "
                "(pip install safetensors); or use format='npy'"
            ) from None
    if fmt == "parquet":
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise ImportError(
                "EmbeddingWriter: format='parquet' needs pyarrow, which `datasets` brings "
                "(pip install \"spt-data[hf]\"); or use format='npy'"
            ) from None


def _replace(tmp: Path, final: Path) -> None:
    os.replace(tmp, final)


def _write_json(path: Path, content: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(content, indent=1, sort_keys=True))
    _replace(tmp, path)


def write_shard(
    folder: Path, name: str, arrays: Mapping[str, np.ndarray], fmt: str
) -> dict[str, Any]:
    """Write one shard (all keys, the same number of rows) and then its marker.

    Returns:
        The marker: ``{"name", "format", "num_samples", "files", "dtypes", "shapes"}``.
    """
    shards = folder / SHARDS
    shards.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    if fmt == "npy":
        for key, array in arrays.items():
            final = shards / f"{name}.{key}.npy"
            tmp = shards / f".{final.name}.tmp"
            with open(tmp, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
            _replace(tmp, final)
            files[key] = final.name
    elif fmt == "safetensors":
        from safetensors.numpy import save_file

        final = shards / f"{name}.safetensors"
        tmp = shards / f".{final.name}.tmp"
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
        _replace(tmp, final)
        files = dict.fromkeys(arrays, final.name)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {
            k: pa.array(list(v.reshape(len(v), -1)) if v.ndim > 1 else v) for k, v in arrays.items()
        }
        final = shards / f"{name}.parquet"
        tmp = shards / f".{final.name}.tmp"
        pq.write_table(pa.table(columns), str(tmp))
        _replace(tmp, final)
        files = dict.fromkeys(arrays, final.name)
    rows = {len(v) for v in arrays.values()}
    marker = {
        "name": name,
        "format": fmt,
        "num_samples": rows.pop() if rows else 0,
        "files": files,
        "dtypes": {k: str(v.dtype) for k, v in arrays.items()},
        "shapes": {k: list(v.shape[1:]) for k, v in arrays.items()},
    }
    _write_json(shards / f"{name}.json", marker)
    return marker


def read_shard(
    folder: Path, marker: Mapping[str, Any], keys: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """The arrays of one shard (all its keys, or only ``keys``), as its marker describes them.

    Raises:
        FileNotFoundError: If a file the marker lists is missing.
    """
    shards = folder / SHARDS
    for file in set(marker["files"].values()):
        if not (shards / file).is_file():
            raise FileNotFoundError(
                f"read_embeddings: shard {marker['name']!r} lists {file!r}, which is not in "
                f"{shards}; run the export again to rewrite it"
            )
    fmt = marker["format"]
    wanted = list(marker["files"]) if keys is None else list(keys)
    if fmt == "npy":
        return {k: np.load(shards / marker["files"][k], allow_pickle=False) for k in wanted}
    if fmt == "safetensors":
        from safetensors.numpy import load_file

        loaded = load_file(str(shards / next(iter(marker["files"].values()))))
        return {k: loaded[k] for k in wanted}
    import pyarrow.parquet as pq

    table = pq.read_table(str(shards / next(iter(marker["files"].values()))), columns=wanted)
    out: dict[str, np.ndarray] = {}
    for key in wanted:
        column = table.column(key).to_pylist()
        shape = [len(column), *marker["shapes"][key]]
        out[key] = np.asarray(column, dtype=marker["dtypes"][key]).reshape(shape)
    return out


def complete_shards(folder: Path) -> list[dict[str, Any]]:
    """The markers of every complete shard in ``folder`` (any rank, any earlier run), by name."""
    shards = folder / SHARDS
    if not shards.is_dir():
        return []
    markers = []
    for path in sorted(shards.glob("*.json")):
        if path.name.startswith("."):
            continue
        markers.append(json.loads(path.read_text()))
    return markers


def write_manifest(folder: Path, markers: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    """Write ``manifest.json`` over the complete shards; returns its content.

    Raises:
        ValueError: If the shards disagree on keys, dtypes or per-sample shapes (an export
            folder reused with other settings).
    """
    dtypes: dict[str, str] = {}
    shapes: dict[str, list[int]] = {}
    total = 0
    for marker in markers:
        if sorted(marker["files"]) != sorted(keys):
            raise ValueError(
                f"EmbeddingWriter: shard {marker['name']!r} in {folder} holds keys "
                f"{sorted(marker['files'])}, this export writes {sorted(keys)}; use another "
                "output folder or the same keys"
            )
        for key in keys:
            for seen, value in ((dtypes, marker["dtypes"][key]), (shapes, marker["shapes"][key])):
                if seen.setdefault(key, value) != value:
                    raise ValueError(
                        f"EmbeddingWriter: key {key!r} is {value} in shard {marker['name']!r} "
                        f"but {seen[key]} in another shard of {folder}; use another output folder"
                    )
        total += int(marker["num_samples"])
    manifest = {
        "version": MANIFEST_VERSION,
        "format": markers[0]["format"] if markers else None,
        "keys": list(keys),
        "dtypes": dtypes,
        "shapes": {k: [total, *s] for k, s in shapes.items()},
        "num_samples": total,
        "shards": [
            {"name": m["name"], "num_samples": m["num_samples"], "files": m["files"]}
            for m in markers
        ],
    }
    _write_json(folder / MANIFEST, manifest)
    return manifest


def read_embeddings(dirpath: str | Path) -> dict[str, np.ndarray]:
    """Read an export back: every key of the manifest, rows sorted by ``sample_idx``.

    Args:
        dirpath: The folder an :class:`~spt.embed.EmbeddingWriter` (or ``spt embed``) wrote.

    Returns:
        ``{key: array of shape (N, ...)}`` with ``N`` the number of samples, in the order of
        ``sample_idx``.

    Raises:
        FileNotFoundError: If the folder has no ``manifest.json`` (an export that did not
            finish: run it again, it resumes) or a listed file is missing.

    Examples:
        >>> arrays = read_embeddings("embeddings/val")  # doctest: +SKIP
        >>> arrays["embedding"].shape, arrays["sample_idx"][:3]  # doctest: +SKIP
        ((360, 64), array([0, 1, 2]))
    """
    folder = Path(dirpath)
    path = folder / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"read_embeddings: no {MANIFEST} in {folder}; the export did not finish (run it "
            "again: complete shards are kept and skipped) or the folder is not an export"
        )
    manifest = json.loads(path.read_text())
    keys = list(manifest["keys"])
    markers = [{**s, "format": manifest["format"]} for s in manifest["shards"]]
    by_key: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for marker in markers:
        marker["shapes"] = {k: manifest["shapes"][k][1:] for k in keys}
        marker["dtypes"] = manifest["dtypes"]
        arrays = read_shard(folder, marker)
        for key in keys:
            by_key[key].append(arrays[key])
    out = {
        k: np.concatenate(v) if v else np.zeros(manifest["shapes"][k], dtype=manifest["dtypes"][k])
        for k, v in by_key.items()
    }
    order = np.argsort(out["sample_idx"], kind="stable")
    return {k: v[order] for k, v in out.items()}
