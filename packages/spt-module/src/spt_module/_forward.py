"""The check of ``Module(forward=...)``: a function, not a module object, a class or a value."""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

__all__ = ["require_forward_function"]

_EXPECTED = "Module: forward must be a function forward(self, batch, stage) -> dict"


def _forward_functions(module: ModuleType) -> list[str]:
    names = [
        name
        for name, value in vars(module).items()
        if name.endswith("_forward") and inspect.isfunction(value)
    ]
    return sorted(names)


def require_forward_function(forward: Any) -> None:
    """Raise a TypeError that names the value and suggests the function when ``forward`` is not one.

    Accepted: None (a subclass defines ``forward``), functions and other callable objects
    (``functools.partial``, instances with ``__call__``). Refused: module objects (e.g. a
    method's submodule instead of its function), classes and non-callables.

    Raises:
        TypeError: Naming the value received and the function to pass instead.
    """
    if forward is None:
        return
    if isinstance(forward, ModuleType):
        candidates = [f"{forward.__name__}.{name}" for name in _forward_functions(forward)]
        hint = (
            f"pass the function it holds, e.g. forward={candidates[0]}"
            + (f" (functions in it: {', '.join(candidates)})" if len(candidates) > 1 else "")
            if candidates
            else "pass a function of it (e.g. spt.forward.byol, or spt.forward.byol_forward)"
        )
        raise TypeError(f"{_EXPECTED}, got the module object {forward.__name__!r}; {hint}.")
    if isinstance(forward, type):
        raise TypeError(
            f"{_EXPECTED}, got the class {forward.__qualname__!r}; pass a function such as "
            "spt.forward.byol (or spt.forward.byol_forward), or subclass Module and define "
            "forward."
        )
    if not callable(forward):
        raise TypeError(
            f"{_EXPECTED}, got {type(forward).__name__} {forward!r}; pass a function such as "
            "spt.forward.simclr (or spt.forward.simclr_forward)."
        )
