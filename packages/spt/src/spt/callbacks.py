"""Online probes, kNN and representation monitors: ``spt.callbacks`` is ``spt_callbacks``."""

from __future__ import annotations

import importlib
from typing import Any

from spt_callbacks import *  # noqa: F403
from spt_callbacks import __all__ as __all__


def __getattr__(name: str) -> Any:
    # Submodules and names not in spt_callbacks.__all__ (e.g. ``spt.callbacks.<submodule>``).
    if name.startswith(
        "__"
    ):  # never borrow __path__ & co.: spt.callbacks is a module, not a package
        raise AttributeError(name)
    package = importlib.import_module("spt_callbacks")
    try:
        return getattr(package, name)
    except AttributeError:
        try:
            return importlib.import_module(f"spt_callbacks.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'spt.callbacks' has no attribute {name!r}") from None
