"""The ``Example:`` sections of spt's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

# The spt modules whose examples run without data or a network (pretrain has its own tests).
MODULES = [
    "spt",
    "spt._lightning",
    "spt._reexport",
    "spt._resume",
    "spt.backbone",
    "spt.ema",
    "spt.forward",
    "spt.manager",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
