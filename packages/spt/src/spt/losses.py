"""Self-supervised losses: ``spt.losses`` is ``spt_losses`` (its names and submodules)."""

from __future__ import annotations

import importlib
from typing import Any

from spt_losses import *  # noqa: F403
from spt_losses import __all__ as __all__


def __getattr__(name: str) -> Any:
    # Submodules and names not in spt_losses.__all__ (e.g. ``spt.losses.<submodule>``).
    if name.startswith("__"):  # never borrow __path__ & co.: spt.losses is a module, not a package
        raise AttributeError(name)
    package = importlib.import_module("spt_losses")
    try:
        return getattr(package, name)
    except AttributeError:
        try:
            return importlib.import_module(f"spt_losses.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'spt.losses' has no attribute {name!r}") from None
