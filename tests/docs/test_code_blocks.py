"""Every code block in the README files and the documentation runs.

Python blocks of one page run in order in one namespace, like cells of a notebook, in a
temporary working directory. YAML blocks must parse. Bash blocks that name a file of this
repository (``uv run spt examples/x.yaml``) must name one that exists. A block preceded by
``<!-- no-run: reason -->`` is skipped; the reason is mandatory and shows in the test id.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
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
        except Exception as error:
            raise AssertionError(
                f"{_page_id(page)} python block {index} failed:\n{code}"
            ) from error


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
