"""The lock files pin, with hashes, everything pyproject.toml asks for; the runtime lock and the
build tools are the dev lock's very versions (so `make test` tests what the container ships);
and a stale lock is caught here with the command that fixes it."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .conftest import read

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(?:\s*;\s*(.*?))?((?:\s+--hash=\S+)+)$")
LOCKS = ("requirements/lock.txt", "requirements/dev-lock.txt", "requirements/build.txt")
STALE = "the lock is stale: run `make lock` (docs/deployment.md)"


def pins(relative: str) -> dict[str, set[Version]]:
    """{package: pinned versions} of a lock file (several when markers fork, e.g. numpy)."""
    logical = re.sub(r"\\\n", " ", read(relative))
    found: dict[str, set[Version]] = {}
    for raw in logical.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{relative}: not a hash-pinned requirement: {line[:80]}"
        name, version = canonicalize_name(match.group(1)), Version(match.group(2))
        found.setdefault(name, set()).add(version)
    return found


def pinned_lines(relative: str) -> set[str]:
    return {line.split(" \\")[0] for line in read(relative).splitlines() if "==" in line}


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return tomllib.loads(read("pyproject.toml"))


def assert_covered(declared: list[str], relative: str) -> None:
    """Every requirement in `declared` has a pin in `relative` that satisfies it."""
    locked = pins(relative)
    for text in declared:
        requirement = Requirement(text)
        versions = locked.get(canonicalize_name(requirement.name), set())
        assert any(requirement.specifier.contains(v) for v in versions), f"{text}: {STALE}"


@pytest.mark.parametrize("relative", LOCKS)
def test_every_pin_is_exact_and_hashed(relative: str) -> None:
    assert pins(relative)
    assert "--hash=sha256:" in read(relative)


def test_runtime_lock_covers_pyproject(project: dict[str, Any]) -> None:
    assert_covered(project["project"]["dependencies"], "requirements/lock.txt")


def test_dev_lock_covers_pyproject_with_dev_extras(project: dict[str, Any]) -> None:
    declared = project["project"]["dependencies"]
    dev = project["project"]["optional-dependencies"]["dev"]
    assert_covered(declared + dev, "requirements/dev-lock.txt")


def test_build_tools_cover_the_build_system(project: dict[str, Any]) -> None:
    assert_covered(project["build-system"]["requires"], "requirements/build.txt")
    assert "pip" in pins("requirements/build.txt"), "a venv's own pip may be years old"


@pytest.mark.parametrize("relative", ["requirements/lock.txt", "requirements/build.txt"])
def test_runtime_and_build_pins_are_the_dev_locks(relative: str) -> None:
    extra = pinned_lines(relative) - pinned_lines("requirements/dev-lock.txt")
    assert not extra, f"{relative} pins what the dev lock does not: {sorted(extra)}; {STALE}"


def test_locks_are_universal_for_cpython_311_and_up() -> None:
    header = read("requirements/dev-lock.txt").splitlines()[:3]
    assert any("make lock" in line for line in header)
    makefile = read("Makefile")
    assert "--universal --python-version 3.11 --generate-hashes" in makefile
