"""The spt toolkit: SSL methods, backbones, the run Manager and the spt command.

``import spt`` is cheap: the member packages load on first use of ``spt.Module``,
``spt.data``, ``spt.losses`` and so on.

Examples:
    >>> import spt
    >>> loss = spt.losses.NTXEntLoss(temperature=0.5)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from spt import (
        backbone,
        callbacks,
        data,
        ema,
        embed,
        eval,
        forward,
        losses,
        methods,
        optim,
        plots,
    )
    from spt._interrupt import RunInterrupted
    from spt.export import load_backbone, save_backbone
    from spt.manager import Manager
    from spt_module import Module

__all__ = [
    "Manager",
    "Module",
    "RunInterrupted",
    "__version__",
    "backbone",
    "callbacks",
    "data",
    "ema",
    "embed",
    "eval",
    "forward",
    "load_backbone",
    "losses",
    "methods",
    "optim",
    "plots",
    "save_backbone",
]

_SUBMODULES = {
    "backbone",
    "callbacks",
    "data",
    "ema",
    "embed",
    "eval",
    "forward",
    "losses",
    "methods",
    "optim",
    "plots",
    "cli",
    "export",  # spt.export.load_backbone
    "manager",  # spt.manager.load_backbone, as older run logs suggested
}
_OBJECTS = {
    "Module": ("spt_module", "Module"),
    "Manager": ("spt.manager", "Manager"),
    "RunInterrupted": ("spt._interrupt", "RunInterrupted"),
    "load_backbone": ("spt.export", "load_backbone"),
    "save_backbone": ("spt.export", "save_backbone"),
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"spt.{name}")
    if name in _OBJECTS:
        module_name, attr = _OBJECTS[name]
        value = getattr(importlib.import_module(module_name), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
