"""Every ``Examples:`` section in spt_optim's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import spt_optim

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(spt_optim.__path__, prefix="spt_optim.")
)


@pytest.mark.parametrize("name", ["spt_optim", *MODULES])
def test_docstring_examples_run(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_public_functions_and_classes_have_examples() -> None:
    missing = []
    for public in spt_optim.__all__:
        obj = getattr(spt_optim, public)
        is_warning = isinstance(obj, type) and issubclass(obj, Warning)
        if callable(obj) and not is_warning and "Examples:" not in (obj.__doc__ or ""):
            missing.append(public)
    assert missing == []
