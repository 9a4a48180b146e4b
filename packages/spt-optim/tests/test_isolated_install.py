"""spt-optim installs and imports alone: torch only, no lightning, torchmetrics or torchvision."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1]
FORBIDDEN = ("lightning", "pytorch_lightning", "lightning_fabric", "torchmetrics", "torchvision")

# Prints the offending top-level modules and exits 1 if any was imported.
CHECK = (
    "import sys, spt_optim\n"
    f"forbidden = {FORBIDDEN!r}\n"
    "loaded = sorted({m.split('.')[0] for m in sys.modules} & set(forbidden))\n"
    "print('loaded:', loaded)\n"
    "sys.exit(1 if loaded else 0)\n"
)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def test_import_loads_no_lightning_torchmetrics_or_torchvision(tmp_path: Path) -> None:
    # A fresh interpreter of this environment (which does hold lightning & co.).
    result = _run([sys.executable, "-c", CHECK], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded: []" in result.stdout


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not on PATH: cannot build a venv")
def test_installs_alone_into_a_fresh_venv(tmp_path: Path) -> None:
    if not (PACKAGE_DIR / "pyproject.toml").exists():
        pytest.skip(f"{PACKAGE_DIR} is not the spt-optim source tree: nothing to install")
    venv = tmp_path / "venv"
    # The interpreter running the tests: uv never has to find or download a Python.
    created = _run(["uv", "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    install = ["uv", "pip", "install", "--quiet", "--python", str(python), str(PACKAGE_DIR)]
    # torch resolves from uv's cache offline; fall back to the index when the cache is cold.
    result = _run([*install[:3], "--offline", *install[3:]], cwd=tmp_path)
    if result.returncode != 0:
        result = _run(install, cwd=tmp_path)
    if result.returncode != 0 and "network" in result.stderr.lower():
        pytest.skip(f"torch is neither in uv's cache nor reachable: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    listed = _run(["uv", "pip", "list", "--python", str(python)], cwd=tmp_path).stdout.lower()
    for name in FORBIDDEN:
        assert f"\n{name.replace('_', '-')} " not in listed, f"{name} was installed: {listed}"
    checked = _run([str(python), "-c", CHECK], cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "loaded: []" in checked.stdout
