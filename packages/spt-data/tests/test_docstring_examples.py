"""The Example sections of the docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import pytest
import torch

import spt_data
from spt_data import gpu, transforms

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(spt_data.__path__, prefix="spt_data.")
    if not info.name.rsplit(".", 1)[-1].startswith("_") or info.name.endswith("__init__")
)


@pytest.mark.parametrize("name", ["spt_data", *MODULES])
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    if name in {"spt_data", "spt_data.digits"}:
        pytest.importorskip("sklearn", reason="the example loads digits (extra [examples])")
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    names = {"torch": torch, "spt_data": spt_data, "transforms": transforms}
    names.update({k: getattr(gpu, k) for k in gpu.__all__} if ".gpu" in name else {})
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={**vars(module), **names}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
