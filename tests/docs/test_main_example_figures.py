"""The figures of the main example come from one record: benchmarks/RESULTS.md, "The main example".

The README, the docs and the example's header either quote that record (the final table, the
held-out accuracies) or point to it (the wall time, which depends on the machine).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
QUOTING = ["README.md", "docs/index.md", "docs/benchmarks.md", "examples/simclr_digits.yaml"]
_WALL_TIME = re.compile(r"\b\d+(?:\.\d+)?\s*(?:s|sec|seconds?|minutes?|min)\b|\bminutes?\b")


def _record() -> str:
    text = RESULTS.read_text()
    start = text.index("## The main example")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _text_block(text: str) -> str:
    match = re.search(r"```text\n(.*?)```", text, re.DOTALL)
    assert match, "no ```text block"
    return match.group(1)


def test_the_docs_show_the_final_table_of_the_record():
    index = (ROOT / "docs" / "index.md").read_text()
    assert _text_block(index) == _text_block(_record())


def test_the_quoted_held_out_accuracies_are_those_of_the_record():
    record = _record()
    for page in ("README.md", "docs/benchmarks.md"):
        text = (ROOT / page).read_text()
        figures = re.findall(r"\b0\.\d{3}\b", text[text.index("main example") :][:1200])
        assert {"0.925", "0.781"} <= set(figures), f"{page}: {figures}"
        for figure in figures:
            assert figure in record, f"{page} quotes {figure}, which the record does not hold"


@pytest.mark.parametrize("page", QUOTING)
def test_pages_point_to_the_record_for_the_wall_time(page):
    text = (ROOT / page).read_text()
    assert "benchmarks/RESULTS.md" in text, f"{page} does not point to the record"
    about = text[: text.index("benchmarks/RESULTS.md") + 200]
    found = _WALL_TIME.findall(about)
    assert not found, f"{page} states a wall time of its own: {found}; point to the record"
