"""matplotlib, imported only when a picture is drawn (the optional extra ``spt[plots]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "DPI",
    "EXTRA",
    "MissingExtraError",
    "matplotlib_missing",
    "new_figure",
    "save_figure",
]

EXTRA = 'pip install "spt[plots]"'
DPI = 100


class MissingExtraError(ImportError):
    """matplotlib is not installed; the message names the extra that brings it."""


def new_figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` of ``width x height`` inches (no pyplot, no global state).

    Raises:
        MissingExtraError: If matplotlib is not installed.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError(f"spt plots need matplotlib: {EXTRA}") from None
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save_figure(figure: Any, path: Path) -> Path:
    """Save ``figure`` as a PNG of exactly its size in pixels (inches x DPI)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path


def matplotlib_missing() -> str | None:
    """The one line to log when matplotlib cannot be imported, else ``None``."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        return f"matplotlib is not installed ({EXTRA})"
    return None
