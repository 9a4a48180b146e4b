"""Optimizers, schedulers and parameter routing: ``spt.optim`` is ``spt_optim``."""

from __future__ import annotations

import importlib
from typing import Any

from spt_optim import *  # noqa: F403
from spt_optim import __all__ as __all__


def __getattr__(name: str) -> Any:
    # Submodules and names not in spt_optim.__all__ (e.g. ``spt.optim.<submodule>``).
    if name.startswith("__"):  # never borrow __path__ & co.: spt.optim is a module, not a package
        raise AttributeError(name)
    package = importlib.import_module("spt_optim")
    try:
        return getattr(package, name)
    except AttributeError:
        try:
            return importlib.import_module(f"spt_optim.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'spt.optim' has no attribute {name!r}") from None
