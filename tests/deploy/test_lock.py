"""The lock files agree with pyproject.toml: every dependency it names is locked, at a
version its bounds allow. Otherwise `make lock` was forgotten after a change."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.service import ROOT

FIX = "run `make lock` and commit requirements.lock and requirements-test.lock"


def locked(path: Path) -> dict[str, list[Version]]:
    """Name -> the versions pinned for it (several when markers split by Python version)."""
    pins: dict[str, list[Version]] = {}
    for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", path.read_text(), flags=re.MULTILINE):
        pins.setdefault(canonicalize_name(name), []).append(Version(version))
    return pins


def project() -> dict[str, list[str]]:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"runtime": table["dependencies"], "test": table["optional-dependencies"]["test"]}


@pytest.mark.parametrize(("group", "lock"), [("runtime", "requirements.lock"),
                                             ("runtime", "requirements-test.lock"),
                                             ("test", "requirements-test.lock")])
def test_every_dependency_is_locked_within_its_bounds(group: str, lock: str) -> None:
    pins = locked(ROOT / lock)
    for requirement in map(Requirement, project()[group]):
        versions = pins.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is not in {lock}: {FIX}"
        assert all(v in requirement.specifier for v in versions), (
            f"{lock} pins {requirement.name} {[str(v) for v in versions]}, outside {requirement.specifier}: {FIX}")


def test_the_lint_and_type_tools_are_pinned_exactly() -> None:
    tools = {Requirement(r).name: str(Requirement(r).specifier) for r in project()["test"]}
    assert tools["ruff"].startswith("==") and tools["mypy"].startswith("==")


def test_runtime_and_test_locks_pin_the_same_runtime_versions() -> None:
    runtime, test = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-test.lock")
    assert {name: test.get(name) for name in runtime} == runtime, FIX
