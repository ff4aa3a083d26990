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
    monkeypatch.setenv("FACEPAY_OPERATOR_PASSWORD", "cli-operator-pass-2026")
    monkeypatch.setenv("FACEPAY_ENVIRONMENT", "dev")
    monkeypatch.delenv("FACEPAY_DATABASE_URL", raising=False)
    return CliRunner()


def test_audit_verify_detects_an_edited_entry(runner: CliRunner, tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    created = runner.invoke(app, ["admin", "init", "--hospital", "CLI Hospital", "--data", data])
    assert created.exit_code == 0, created.output
    assert "platform operator operator (stf_" in created.output
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


def _rows(data: Path, table: str) -> int:
    with closing(sqlite3.connect(data / "facepay.sqlite")) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_admin_init_with_a_short_password_stores_nothing(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEPAY_ADMIN_PASSWORD", "short")
    data = tmp_path / "data"
    refused = runner.invoke(app, ["admin", "init", "--hospital", "Orphan", "--data", str(data)])
    assert refused.exit_code == 2, refused.output
    assert "12" in refused.output  # the sentence says how long a password must be
    if (data / "facepay.sqlite").exists():
        assert [_rows(data, t) for t in ("hospitals", "staff_users", "audit_log")] == [0, 0, 0]


def test_admin_init_with_a_taken_user_name_stores_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    same = ["--operator", "admin", "--hospital-admin", "admin"]
    refused = runner.invoke(
        app, ["admin", "init", "--hospital", "Twice", *same, "--data", str(data)]
    )
    assert refused.exit_code == 2, refused.output
    assert [_rows(data, t) for t in ("hospitals", "staff_users", "audit_log")] == [0, 0, 0]
