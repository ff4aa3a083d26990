"""The deployment files read as data: the Dockerfile, compose.yaml, the systemd unit, the lock
files and .env.example, checked against `facepay.config.Settings` without Docker or systemd."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml

from facepay.config import Settings

ROOT = Path(__file__).resolve().parents[3]
FACEPAY_NAME = re.compile(r"\bFACEPAY_[A-Z0-9_]*[A-Z0-9]\b")


def setting_names() -> set[str]:
    """The environment variable of every Settings field."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def read(relative: str) -> str:
    """A file of the repository as text."""
    return (ROOT / relative).read_text(encoding="utf-8")


def systemd_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}} (keys may repeat, unlike INI)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="session")
def env_example_script() -> dict[str, Any]:
    """scripts/env-example loaded in this process (its globals: render, OUTSIDE_SETTINGS, ...)."""
    return runpy.run_path(str(ROOT / "scripts" / "env-example"), run_name="env_example")


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """compose.yaml parsed by PyYAML."""
    document = yaml.safe_load(read("compose.yaml"))
    assert isinstance(document, dict)
    return document
