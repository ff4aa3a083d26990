"""`facepay admin init` then `facepay audit verify`: intact, then an edited entry is caught."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facepay.cli import app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FACEPAY_ADMIN_PASSWORD", "cli-admin-pass-2026")
    monkeypatch.setenv("FACEPAY_ENVIRONMENT", "dev")
    monkeypatch.delenv("FACEPAY_DATABASE_URL", raising=False)
    return CliRunner()


def test_audit_verify_detects_an_edited_entry(runner: CliRunner, tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    created = runner.invoke(app, ["admin", "init", "--hospital", "CLI Hospital", "--data", data])
    assert created.exit_code == 0, created.output
    assert "hospital hsp_" in created.output
    intact = runner.invoke(app, ["audit", "verify", "--json", "--data", data])
    assert intact.exit_code == 0, intact.output
    report = json.loads(intact.output)
    assert report["ok"] is True
    assert report["entries_checked"] >= 2

    with closing(sqlite3.connect(tmp_path / "data" / "facepay.sqlite")) as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1")
        conn.commit()
    broken = runner.invoke(app, ["audit", "verify", "--data", data])
    assert broken.exit_code == 1
    assert "broken at entry 1" in broken.output
