"""Embeddings on disk: ``EmbeddingWriter`` (a predict callback), ``spt embed`` and the reader.

``read_embeddings`` needs only NumPy; the writer and the command load Lightning on first use.

Examples:
    >>> from spt.embed import read_embeddings
    >>> arrays = read_embeddings("spt_runs/digits/embeddings/val")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spt.embed._shards import read_embeddings

if TYPE_CHECKING:
    from spt.embed._command import main
    from spt.embed._writer import EmbeddingWriter

__all__ = ["EmbeddingWriter", "main", "read_embeddings"]


def __getattr__(name: str) -> Any:
    if name == "EmbeddingWriter":
        from spt.embed._writer import EmbeddingWriter

        return EmbeddingWriter
    if name == "main":
        from spt.embed._command import main

        return main
    raise AttributeError(f"module 'spt.embed' has no attribute {name!r}")
