"""Check and bump the versions of the workspace members.

Usage:
    python scripts/versions.py check [--package NAME --version X.Y.Z]
    python scripts/versions.py bump NAME {major,minor,patch} [--message TEXT]

``check`` verifies that every sibling dependency range (``spt-optim>=0.1,<0.2``) admits the
current version of that sibling, and, with ``--package``/``--version``, that a release tag
matches the package's version. ``bump`` raises one package's version and opens a section for
it at the top of its CHANGELOG.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if sys.version_info < (3, 11):  # pragma: no cover
    raise SystemExit("scripts/versions.py needs Python 3.11 or later (tomllib)")

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
_VERSION_LINE = re.compile(r'^version = "([^"]+)"$', re.MULTILINE)
_REQUIREMENT = re.compile(r"^(spt(?:-[a-z]+)?)(\[[^\]]*\])?(.*)$")


def member_versions(packages: Path = PACKAGES) -> dict[str, str]:
    """Return ``{distribution name: version}`` for every workspace member."""
    versions = {}
    for pyproject in sorted(packages.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        versions[project["name"]] = project["version"]
    return versions


def _parse(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _admits(specifier: str, version: str) -> bool:
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        match = re.fullmatch(r"(>=|<=|==|<|>)\s*([0-9.]+)", clause)
        if match is None:
            raise ValueError(f"unsupported version clause {clause!r}; use >=, <=, ==, < or >")
        op, bound = match.groups()
        left, right = _parse(version), _parse(bound)
        width = max(len(left), len(right))
        left += (0,) * (width - len(left))
        right += (0,) * (width - len(right))
        ok = {
            ">=": left >= right,
            "<=": left <= right,
            "==": left == right,
            "<": left < right,
            ">": left > right,
        }[op]
        if not ok:
            return False
    return True


def range_problems(packages: Path = PACKAGES) -> list[str]:
    """List every sibling requirement whose range does not admit the sibling's version."""
    versions = member_versions(packages)
    problems = []
    for pyproject in sorted(packages.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        requirements = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            requirements += extra
        for requirement in requirements:
            match = _REQUIREMENT.match(requirement.replace(" ", ""))
            if match is None or match.group(1) not in versions:
                continue
            name, _, specifier = match.groups()
            if not specifier:
                problems.append(f"{project['name']}: {name} has no version range")
            elif not _admits(specifier, versions[name]):
                problems.append(
                    f"{project['name']}: requires {name}{specifier}, "
                    f"but {name} is at {versions[name]}"
                )
    return problems


def bump(name: str, part: str, message: str, packages: Path = PACKAGES) -> str:
    """Raise ``name``'s version by ``part`` and add a CHANGELOG section; return the new version."""
    folder = packages / name
    pyproject = folder / "pyproject.toml"
    if not pyproject.exists():
        known = ", ".join(member_versions(packages))
        raise SystemExit(f"unknown package {name!r}; members are: {known}")
    text = pyproject.read_text()
    major, minor, patch = _parse(member_versions(packages)[name])
    new = {
        "major": f"{major + 1}.0.0",
        "minor": f"{major}.{minor + 1}.0",
        "patch": f"{major}.{minor}.{patch + 1}",
    }[part]
    pyproject.write_text(_VERSION_LINE.sub(f'version = "{new}"', text, count=1))
    changelog = folder / "CHANGELOG.md"
    lines = changelog.read_text().splitlines() if changelog.exists() else [f"# Changelog of {name}"]
    section = ["", f"## {new} (unreleased)", "", f"- {message}"]
    changelog.write_text("\n".join([lines[0], *section, *lines[1:]]) + "\n")
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check")
    check.add_argument("--package")
    check.add_argument("--version")
    bumper = sub.add_parser("bump")
    bumper.add_argument("package")
    bumper.add_argument("part", choices=["major", "minor", "patch"])
    bumper.add_argument("--message", default="Describe the change here.")
    args = parser.parse_args(argv)

    if args.command == "bump":
        print(bump(args.package, args.part, args.message))
        return 0
    problems = range_problems()
    if args.package:
        actual = member_versions().get(args.package)
        if actual != args.version:
            problems.append(f"tag asks for {args.package} {args.version}, pyproject has {actual}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
