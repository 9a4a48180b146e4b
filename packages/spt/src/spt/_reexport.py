"""The one mechanism behind ``spt.optim``, ``spt.losses``, ``spt.data`` and ``spt.callbacks``.

Each of those modules is the member package under a second name: it holds the package's
public names (its ``__all__``) and hands out everything else the package has, submodules
included, on first access. A module of the meta package becomes such an alias with::

    __getattr__ = reexport(globals(), "spt_optim")

plus, for type checkers, a star import of the package under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = ["reexport"]


def reexport(
    namespace: MutableMapping[str, Any],
    package: str,
    extra: Mapping[str, str] | None = None,
) -> Callable[[str], Any]:
    """Fill ``namespace`` with ``package``'s public names; return the module's ``__getattr__``.

    Args:
        namespace: The ``globals()`` of the alias module (``spt.optim``).
        package: The member package it stands for (``"spt_optim"``).
        extra: Names the alias adds beyond the package's, each mapped to the module that
            defines it (``{"TeacherStudentCallback": "spt.ema"}``); they are in ``__all__``
            and imported on first access.

    Returns:
        A module ``__getattr__`` that resolves, in order, an ``extra`` name, any attribute of
        the package, and a submodule ``package.<name>``.

    Raises:
        ValueError: If an ``extra`` name is already a public name of the package.

    Examples:
        >>> namespace: dict[str, Any] = {"__name__": "alias"}
        >>> getattr_ = reexport(namespace, "spt_optim")
        >>> namespace["LARS"] is getattr_("LARS") is importlib.import_module("spt_optim").LARS
        True
    """
    member = importlib.import_module(package)
    public = list(member.__all__)
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(public))
    if clash:
        raise ValueError(f"reexport: extra names {clash} are already public names of {package}")
    alias = str(namespace.get("__name__", package))
    namespace.update({name: getattr(member, name) for name in public})
    namespace["__all__"] = sorted([*public, *extra])

    def module_getattr(name: str) -> Any:
        # Never borrow __path__ & co.: the alias is a module, not a package.
        if name.startswith("__"):
            raise AttributeError(name)
        if name in extra:
            value = getattr(importlib.import_module(extra[name]), name)
            namespace[name] = value
            return value
        try:
            return getattr(member, name)
        except AttributeError:
            pass
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module {alias!r} has no attribute {name!r}") from None

    return module_getattr
