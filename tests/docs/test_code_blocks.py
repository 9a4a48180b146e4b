"""Every code block in the README files and the documentation runs.

Python blocks of one page run in order in one namespace, like cells of a notebook, in a
temporary working directory. A block that shows training trains: a top-level
``configure_optimizers(self)`` is completed by the test into a tiny LightningModule (a
``backbone`` and a ``head``) and fitted for two steps under Lightning's automatic optimization,
and a block that defines a LightningModule must be followed by a ``.fit(`` on its page. YAML
blocks must parse. Bash blocks that name a file of this
repository (``uv run spt examples/x.yaml``) must name one that exists. A block preceded by
``<!-- no-run: reason -->`` is skipped; the reason is mandatory and shows in the test id.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "packages").glob("*/README.md"), *(ROOT / "docs").rglob("*.md")]
)
_BLOCK = re.compile(
    r"(?:<!--\s*no-run:\s*(?P<skip>[^>]*?)\s*-->\s*\n)?^```(?P<lang>[a-zA-Z]*)[^\n]*\n(?P<code>.*?)^```",
    re.MULTILINE | re.DOTALL,
)
_REPO_FILE = re.compile(r"\b((?:examples|benchmarks|scripts)/[\w./-]+\.(?:yaml|py))\b")


def _blocks(page: Path) -> list[tuple[str, str, str | None]]:
    return [
        (m.group("lang").lower(), m.group("code"), m.group("skip"))
        for m in _BLOCK.finditer(page.read_text())
    ]


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _defines_configure_optimizers(code: str) -> bool:
    """A top-level ``def configure_optimizers``: a method shown outside its class."""
    return any(
        isinstance(node, ast.FunctionDef) and node.name == "configure_optimizers"
        for node in ast.parse(code).body
    )


def _defines_a_lightning_module(code: str) -> bool:
    """A class that subclasses a ``LightningModule`` or has a ``training_step``."""
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.ClassDef):
            continue
        if any(ast.unparse(base).endswith("LightningModule") for base in node.bases):
            return True
        if any(
            isinstance(item, ast.FunctionDef) and item.name == "training_step" for item in node.body
        ):
            return True
    return False


def _fit_with_configure_optimizers(page_function: Callable[[Any], Any]) -> None:
    """Two training steps of a small classifier whose optimizers the page's function builds."""
    import lightning as pl
    from torch import nn

    class SmallClassifier(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
            self.head = nn.Linear(16, 3)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            return nn.functional.cross_entropy(self.head(self.backbone(x)), y)

        configure_optimizers = page_function

    data = torch.utils.data.TensorDataset(torch.randn(32, 8), torch.randint(0, 3, (32,)))
    trainer = pl.Trainer(
        max_steps=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(SmallClassifier(), torch.utils.data.DataLoader(data, batch_size=8))
    assert trainer.global_step == 2, trainer.global_step


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = [(code, skip) for lang, code, skip in _blocks(page) if lang in {"python", "py"}]
    if not blocks:
        pytest.skip("no python block")
    monkeypatch.chdir(tmp_path)
    # A real module, so that dataclasses, pickling and typing can look the page's names up.
    page_module = types.ModuleType("__doc_example__")
    monkeypatch.setitem(sys.modules, page_module.__name__, page_module)
    namespace = page_module.__dict__
    for index, (code, skip) in enumerate(blocks):
        if skip is not None:
            assert skip, f"{_page_id(page)} block {index}: no-run needs a reason"
            continue
        try:
            exec(compile(code, f"{_page_id(page)}[block {index}]", "exec"), namespace)
            if _defines_configure_optimizers(code):
                _fit_with_configure_optimizers(namespace["configure_optimizers"])
        except Exception as error:
            raise AssertionError(
                f"{_page_id(page)} python block {index} failed:\n{code}"
            ) from error


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_blocks_that_define_a_lightning_module_fit_it(page: Path) -> None:
    blocks = [code for lang, code, skip in _blocks(page) if lang in {"python", "py"} and not skip]
    for index, code in enumerate(blocks):
        if _defines_a_lightning_module(code):
            rest = "\n".join(blocks[index:])
            assert ".fit(" in rest, (
                f"{_page_id(page)} python block {index} defines a LightningModule that no block "
                "of the page fits; end the example with a short Trainer(max_steps=2).fit(...)"
            )


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_yaml_blocks_parse(page: Path) -> None:
    for lang, code, _ in _blocks(page):
        if lang in {"yaml", "yml"}:
            yaml.safe_load(code)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_shell_blocks_name_files_that_exist(page: Path) -> None:
    for lang, code, _ in _blocks(page):
        if lang in {"bash", "sh", "shell", "console"}:
            for name in _REPO_FILE.findall(code):
                if "/path/to" in name or name.startswith("examples/my_"):
                    continue
                assert (ROOT / name).exists(), (
                    f"{_page_id(page)} names {name}, which does not exist"
                )


def test_a_shown_single_optimizer_is_fitted() -> None:
    import spt_optim

    def configure_optimizers(self: Any) -> Any:
        return spt_optim.configure_optimizers(
            self, {"optimizer": "AdamW", "exclude_bias_and_norm": True}
        )

    _fit_with_configure_optimizers(configure_optimizers)


def test_two_shown_optimizers_fail_under_automatic_optimization() -> None:
    import spt_optim

    def configure_optimizers(self: Any) -> Any:
        routes = {
            "backbone": {"modules": "backbone", "optimizer": {"type": "SGD", "lr": 0.05}},
            "head": {"modules": "head", "optimizer": "AdamW"},
        }
        return spt_optim.configure_optimizers(self, routes)

    with pytest.raises(RuntimeError, match="manual optimization"):
        _fit_with_configure_optimizers(configure_optimizers)
