"""Every code example of seeds 000, 002 and 004 runs on spt, with only the import line changed.

Each example is a file in ``examples/``: a header that names the seed lines it copies, a
preamble for names the seed uses without defining (marked as such), the seed text, and
checks of what the example claims. CIFAR-10, the Hub, the DataLoader size and the Trainer
length are replaced by the stand-ins of ``conftest.py``.

Not run, because they are not examples of this library: the "PyTorch Lightning (the verbose
way)" counter-examples of seed 002 (lines 38-62, 122-141, 307-433, 534-602: plain Lightning
code, partly with ``...`` placeholders), its shell commands, and the matplotlib/LaTeX
installation snippets (lines 1041-1115, untagged blocks about fonts).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("ex_*.py"))
SEEDS_DIR = Path(__file__).resolve().parents[3] / "shared" / "seeds"
IMPORTS = [
    ("import stable_pretraining as spt", "import spt"),
    ("from stable_pretraining import forward", "from spt import forward"),
    ("from stable_pretraining.data import transforms", "from spt.data import transforms"),
]


def _header(path: Path, key: str) -> str | None:
    match = re.search(rf"^# {key}: (.*)$", path.read_text(), re.MULTILINE)
    return match.group(1).strip() if match else None


def _seed_section(path: Path) -> str:
    text = path.read_text()
    start = text.index("# --- seed example ---\n") + len("# --- seed example ---\n")
    return text[start : text.index("# --- end of seed example ---")]


def _param(path: Path) -> object:
    reason = _header(path, "xfail")
    marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
    return pytest.param(path, id=path.stem.removeprefix("ex_"), marks=marks)


def _run(path: Path, namespace: dict[str, object]) -> None:
    exec(compile(path.read_text(), str(path), "exec"), namespace)


@pytest.mark.slow
@pytest.mark.parametrize("path", [_param(p) for p in EXAMPLES])
def test_seed_example_runs(path: Path, seed_sandbox: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__seed_example__"}
    after = _header(path, "runs-after")
    for name in after.split(", ") if after else []:  # blocks of one page run in order
        _run(EXAMPLES_DIR / f"ex_{name}.py", namespace)
    _run(path, namespace)


def _normalise(text: str) -> str:
    return "".join(text.split())


def _seed_text(path: Path) -> str:
    fname, fmt = _header(path, "seed-file"), _header(path, "seed-format")
    first, last = (int(v) for v in (_header(path, "seed-lines") or "").split("-"))
    assert fname
    assert fmt
    lines = (SEEDS_DIR / fname).read_text().splitlines()[first - 1 : last]
    if fmt == "rst":
        text = textwrap.dedent("\n".join(lines))
    elif fmt == "diff":
        text = "\n".join(
            line[2:] if line.startswith("+ ") else line[1:]
            for line in lines
            if line.startswith("+")
        )
    elif fmt == "doctest":
        text = re.sub(r"(>>>|\.\.\.)", " ", "\n".join(lines))
    else:
        text = "\n".join(lines)
    for old, new in IMPORTS:
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem.removeprefix("ex_"))
def test_example_is_the_seed_text(path: Path) -> None:
    if not SEEDS_DIR.is_dir():
        pytest.skip(f"the seed documents are not at {SEEDS_DIR}")
    fmt = _header(path, "seed-format")
    expected, actual = _seed_text(path), _seed_section(path)
    if fmt == "doctest":  # re-flowed: equal up to whitespace
        assert _normalise(actual) == _normalise(expected)
    else:
        assert actual.rstrip() == expected.rstrip()


def test_every_python_block_of_the_seeds_is_covered() -> None:
    # The examples cover the seeds' spt code blocks: those that mention spt or forward(self...).
    if not SEEDS_DIR.is_dir():
        pytest.skip(f"the seed documents are not at {SEEDS_DIR}")
    covered = {
        (_header(p, "seed-file"), int((_header(p, "seed-lines") or "0").split("-")[0]))
        for p in EXAMPLES
    }
    for fname in ("000", "002"):
        (seed,) = SEEDS_DIR.glob(f"{fname}_*.txt")
        lines = seed.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            if line.strip() not in ("```python", "```diff", ".. code-block:: python"):
                continue
            block = "\n".join(lines[number : number + 30])
            block = block.split("```")[0]
            if (
                "stable_pretraining" not in block
                and "spt." not in block
                and "def forward(self, batch, stage)" not in block
            ):
                continue  # a plain-Lightning counter-example
            first = number + (2 if line.startswith("..") else 1)
            assert (seed.name, first) in covered, (
                f"{seed.name} line {first}: no example covers this block"
            )


def test_every_spt_name_of_the_seed_examples_resolves() -> None:
    import functools

    import spt

    text = "".join(_seed_section(p) for p in EXAMPLES)
    chains = set(re.findall(r"\bspt\.([A-Za-z_][\w.]*[A-Za-z_0-9])", text))
    chains |= {f"forward.{n}" for n in re.findall(r"\bforward\.(\w+_forward)\b", text)}
    chains |= {f"data.transforms.{n}" for n in re.findall(r"\btransforms\.([A-Z]\w+)", text)}
    assert {"Module", "Manager", "backbone.from_torchvision", "data.fold_views"} <= chains
    for chain in sorted(chains):
        assert functools.reduce(getattr, chain.split("."), spt) is not None, chain
