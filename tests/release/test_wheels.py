"""Each member builds a wheel and an sdist, and its wheel works alone in a fresh environment.

Installing a wheel with only its declared dependencies (and the wheels of its spt siblings)
catches a dependency that the workspace happens to provide but the package forgot to declare.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = shutil.which("uv")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(UV is None, reason="uv is not on PATH"),
]

# What each package needs from its siblings, and a statement that proves it works.
MEMBERS = {
    "spt-optim": (
        [],
        "import spt_optim, torch; "
        "spt_optim.build_optimizer('AdamW', [torch.zeros(1, requires_grad=True)])",
    ),
    "spt-losses": (
        [],
        "import spt_losses, torch; spt_losses.NTXEntLoss()(torch.randn(4, 3), torch.randn(4, 3))",
    ),
    "spt-data": (
        [],
        "import spt_data; spt_data.transforms.Compose; spt_data.DataModule; "
        "spt_data.gpu.GPUCompose",
    ),
    "spt-module": (["spt-optim"], "import spt_module; spt_module.Module"),
    "spt-callbacks": (["spt-optim"], "import spt_callbacks; spt_callbacks.OnlineProbe"),
    "spt": (
        ["spt-optim", "spt-losses", "spt-data", "spt-module", "spt-callbacks"],
        "import spt, spt.cli, spt.pretrain; spt.Module; spt.Manager; spt.callbacks.RankMe; "
        "spt.forward.simclr_forward; spt.backbone.from_torchvision",
    ),
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for name in MEMBERS:
        subprocess.run(
            [UV, "build", "--package", name, "--out-dir", str(out), "--quiet"],
            cwd=ROOT,
            check=True,
        )
    return out


def _artifact(dist: Path, name: str, suffix: str) -> Path:
    stem = name.replace("-", "_")
    (found,) = dist.glob(f"{stem}-*{suffix}")
    return found


@pytest.mark.parametrize("name", list(MEMBERS))
def test_builds_wheel_and_sdist_with_py_typed(dist: Path, name: str) -> None:
    wheel = _artifact(dist, name, ".whl")
    _artifact(dist, name, ".tar.gz")
    listing = subprocess.run(
        [sys.executable, "-m", "zipfile", "-l", str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{name.replace('-', '_')}/py.typed" in listing


@pytest.mark.parametrize("name", list(MEMBERS))
def test_wheel_installs_alone_and_imports(dist: Path, name: str, tmp_path: Path) -> None:
    siblings, statement = MEMBERS[name]
    venv = tmp_path / "venv"
    # outside the workspace, so that its [tool.uv] settings (byte-compiling) do not apply
    subprocess.run(
        [UV, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=tmp_path, check=True
    )
    python = venv / "bin" / "python"
    wheels = [_artifact(dist, n, ".whl") for n in [name, *siblings]]
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(python), *map(str, wheels)],
        cwd=tmp_path,
        check=True,
    )
    result = subprocess.run([str(python), "-c", statement], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
