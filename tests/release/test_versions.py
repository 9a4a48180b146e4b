"""Sibling version ranges admit the members' versions, and the bump script keeps them honest."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="scripts/versions.py uses tomllib (Python 3.11+)"
)

ROOT = Path(__file__).resolve().parents[2]


def _load_versions_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("versions", ROOT / "scripts" / "versions.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["versions"] = module
    spec.loader.exec_module(module)
    return module


versions: ModuleType = (
    _load_versions_script() if sys.version_info >= (3, 11) else ModuleType("versions")
)


def test_every_member_is_versioned() -> None:
    found = versions.member_versions()
    assert set(found) == {
        "spt",
        "spt-optim",
        "spt-losses",
        "spt-data",
        "spt-module",
        "spt-callbacks",
    }
    assert all(v.count(".") == 2 for v in found.values())


def test_sibling_ranges_admit_current_versions() -> None:
    assert versions.range_problems() == []


@pytest.fixture
def packages_copy(tmp_path: Path) -> Path:
    for pyproject in (ROOT / "packages").glob("*/pyproject.toml"):
        target = tmp_path / pyproject.parent.name
        target.mkdir()
        shutil.copy(pyproject, target / "pyproject.toml")
        shutil.copy(pyproject.parent / "CHANGELOG.md", target / "CHANGELOG.md")
    return tmp_path


def test_bump_patch_updates_version_and_changelog(packages_copy: Path) -> None:
    new = versions.bump("spt-optim", "patch", "Fix a thing.", packages_copy)
    assert new == "0.1.1"
    assert versions.member_versions(packages_copy)["spt-optim"] == "0.1.1"
    changelog = (packages_copy / "spt-optim" / "CHANGELOG.md").read_text()
    assert "## 0.1.1 (unreleased)\n\n- Fix a thing." in changelog
    assert changelog.index("0.1.1") < changelog.index("0.1.0")
    assert versions.range_problems(packages_copy) == []


def test_bump_minor_breaks_sibling_ranges_and_check_says_so(packages_copy: Path) -> None:
    versions.bump("spt-optim", "minor", "New API.", packages_copy)
    problems = versions.range_problems(packages_copy)
    assert any(
        "spt-module: requires spt-optim>=0.1,<0.2, but spt-optim is at 0.2.0" in p for p in problems
    )


def test_bump_unknown_package_names_members(packages_copy: Path) -> None:
    with pytest.raises(SystemExit, match=r"unknown package 'spt-nope'; members are: .*spt-optim"):
        versions.bump("spt-nope", "patch", "x", packages_copy)
