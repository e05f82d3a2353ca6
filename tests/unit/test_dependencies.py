"""pyproject.toml states ranges; constraints.txt pins a set inside them; installs use it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [Requirement(r) for r in [*project["dependencies"], *(r for e in extras for r in e)]]


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            out[canonicalize_name(name)] = version
    return out


def test_every_dependency_is_a_range_with_both_bounds():
    for req in requirements():
        ops = {spec.operator for spec in req.specifier}
        assert ">=" in ops and "<" in ops and "==" not in ops, f"{req}: want >=tested,<next"


def test_constraints_pin_every_dependency_inside_its_range():
    pinned = pins()
    assert "lcelkit" not in pinned
    for req in requirements():
        version = pinned.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(version), f"pin {req.name}=={version} is outside {req}"


def test_readme_and_ci_install_through_the_constraints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command_1 = next(line for line in readme.splitlines() if line.startswith("python3 -m venv"))
    assert "pip install torch==2.13.0 && " in command_1
    assert "pip install -c constraints.txt -e '.[dev]'" in command_1
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q -c constraints.txt -e '.[dev]'" in ci
