""".env.example is what scripts/env-example makes of Settings now, its values are the defaults,
its secrets are placeholders, and every FACEPAY_* name the code reads is in it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from facepay.commands.serve import THREAD_POOLS
from facepay.config import Settings

from .conftest import FACEPAY_NAME, ROOT, read, setting_names

ASSIGNMENT = re.compile(r"^#([A-Z][A-Z0-9_]*)=(.*)$")
# FACEPAY_ words in src that are not variables: placeholders in messages and docstrings.
NOT_VARIABLES = {"FACEPAY_NAME"}


def assignments() -> dict[str, str]:
    """Every commented-out `#NAME=value` line of .env.example (each name once)."""
    found: dict[str, str] = {}
    for line in read(".env.example").splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            name, value = match.groups()
            assert name not in found, f"{name} appears twice in .env.example"
            found[name] = value
    return found


def test_env_example_is_what_the_generator_writes(env_example_script: dict[str, Any]) -> None:
    assert read(".env.example") == env_example_script["render"](), (
        ".env.example is stale: run `.venv/bin/python scripts/env-example`"
    )


def test_generator_check_mode_agrees(env_example_script: dict[str, Any]) -> None:
    assert env_example_script["main"](["--check"]) == 0


def test_every_setting_has_a_documented_line() -> None:
    names = set(assignments())
    assert setting_names() <= names
    text = read(".env.example").splitlines()
    for name in setting_names():
        at = text.index(next(line for line in text if line.startswith(f"#{name}=")))
        assert text[at - 1].startswith("# "), name  # type and default
        assert text[at - 2].startswith("# "), name  # meaning


def test_nothing_is_set_by_copying_the_file() -> None:
    for line in read(".env.example").splitlines():
        assert not line or line.startswith("#"), f"an active line in .env.example: {line!r}"


def _is_secret(field: str) -> bool:
    annotation = Settings.model_fields[field].annotation
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def test_values_shown_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    defaults = Settings()
    shown = assignments()
    for field in Settings.model_fields:
        value = shown[f"FACEPAY_{field.upper()}"]
        if value and not _is_secret(field):
            monkeypatch.setenv(f"FACEPAY_{field.upper()}", value)
    from_file = Settings()
    for field in Settings.model_fields:
        if not _is_secret(field):
            assert getattr(from_file, field) == getattr(defaults, field), field


def test_unset_defaults_are_shown_empty() -> None:
    shown = assignments()
    for field, info in Settings.model_fields.items():
        if info.default is None and not _is_secret(field):
            assert shown[f"FACEPAY_{field.upper()}"] == "", field


def test_secrets_are_placeholders_that_facepay_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = assignments()
    for field in Settings.model_fields:
        if _is_secret(field):
            assert "change-me" in shown[f"FACEPAY_{field.upper()}"], field
    monkeypatch.setenv("FACEPAY_JWT_SECRET", shown["FACEPAY_JWT_SECRET"])
    with pytest.raises(ValidationError):
        Settings()


def test_every_facepay_variable_in_src_is_documented(env_example_script: dict[str, Any]) -> None:
    outside = env_example_script["outside_settings_names"]()
    in_src = {
        name
        for path in (ROOT / "src").rglob("*.py")
        for name in FACEPAY_NAME.findall(path.read_text(encoding="utf-8"))
    } - NOT_VARIABLES
    assert in_src - setting_names() <= outside, (
        "add them to OUTSIDE_SETTINGS in scripts/env-example"
    )
    facepay_outside = {name for name in outside if name.startswith("FACEPAY_")}
    assert facepay_outside <= in_src, "OUTSIDE_SETTINGS documents variables nothing reads"
    assert not facepay_outside & setting_names()
    assert set(THREAD_POOLS) <= outside
    assert outside <= set(assignments())
