"""Dict datasets, transforms, statistics, the DataModule: ``spt.data`` is ``spt_data``."""

from __future__ import annotations

import importlib
from typing import Any

from spt_data import *  # noqa: F403
from spt_data import __all__ as __all__


def __getattr__(name: str) -> Any:
    # Submodules and names not in spt_data.__all__ (e.g. ``spt.data.<submodule>``).
    if name.startswith("__"):  # never borrow __path__ & co.: spt.data is a module, not a package
        raise AttributeError(name)
    package = importlib.import_module("spt_data")
    try:
        return getattr(package, name)
    except AttributeError:
        try:
            return importlib.import_module(f"spt_data.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'spt.data' has no attribute {name!r}") from None
