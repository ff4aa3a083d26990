"""An operator's mistakes through the `facepay` command line: one or two lines saying what is
wrong and how to fix it, exit code 2, no traceback, nothing created; JSON on stdout when the
command was given `--json`. Most cases run the CLI in this process (Typer's runner, the real
commands and settings); those marked `process` run it as a child process, as an operator types
it, entry point and all."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from facepay.api.logging import configure_logging
from facepay.cli import app
from facepay.demo.process import run_cli

SECRET = "ops-jwt-k3y-" + "Wq8Lz2Xc9Rv4Nb7Kp1Hs6Dm3Fg5Jt0Ay"
ENV = {
    "FACEPAY_ENVIRONMENT": "dev",
    "FACEPAY_OPERATOR_PASSWORD": "operator-pass-2026",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _refused(args: list[str], env: dict[str, str] | None = None, *, process: bool = False) -> str:
    """Run a command that must be refused; its one or two lines of output."""
    environment = {**ENV, **(env or {})}
    if process:
        done = run_cli(args, environment, timeout=120)
        code, output = done.returncode, (done.stdout + done.stderr).strip()
    else:
        result = CliRunner().invoke(app, args, env=environment)
        code, output = result.exit_code, result.output.strip()
        assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert code == 2, output
    assert "Traceback" not in output
    assert 1 <= len(output.splitlines()) <= 2, output
    return output


def _init(data: Path) -> None:
    done = CliRunner().invoke(app, ["admin", "init", "--data", str(data)], env=ENV)
    assert done.exit_code == 0, done.output


@pytest.fixture(autouse=True)
def _no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The commands (and child processes) see this process's environment: none of the test run's
    # settings. `serve` sets the umask and the log level as it starts: both are put back.
    for name in ("FACEPAY_DATABASE_URL", "FACEPAY_DATA_DIR", "FACEPAY_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    os.umask(umask)
    configure_logging(level=logging.WARNING)


def test_a_folder_that_does_not_exist_is_not_initialised_and_is_not_created(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "does" / "not" / "exist"
    for args in (["audit", "verify"], ["admin", "check"], ["serve", "--port", "1"]):
        output = _refused([*args, "--data", str(missing)])
        assert f"not initialised: no data folder {missing}" in output
        assert f"run `facepay admin init --data {missing}`" in output
    assert not (tmp_path / "does").exists()


def test_serve_on_an_empty_folder_says_run_admin_init(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    output = _refused(["serve", "--data", str(empty), "--port", "1"], process=True)
    assert "not initialised" in output
    assert f"facepay admin init --data {empty}" in output
    assert list(empty.iterdir()) == []


def test_a_database_without_a_platform_operator_is_not_initialised(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # An earlier server run (or a failed init) left a migrated but empty database.
    refused = CliRunner().invoke(
        app, ["admin", "init", "--data", str(data)], env={"FACEPAY_OPERATOR_PASSWORD": "x"}
    )
    assert refused.exit_code == 2
    assert (data / "facepay.sqlite").exists()
    output = _refused(["audit", "verify", "--data", str(data)])
    assert "the database has no platform operator yet" in output


def test_admin_init_on_an_initialised_folder_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _init(data)
    before = _rows(data)
    output = _refused(["admin", "init", "--data", str(data), "--hospital", "Second"])
    assert "is initialised already (platform operator operator)" in output
    assert _rows(data) == before


def test_data_pointing_at_a_file(tmp_path: Path) -> None:
    file = tmp_path / "facepay.sqlite"
    file.write_bytes(b"not a folder")
    for args in (["audit", "verify"], ["admin", "init"], ["serve", "--port", "1"]):
        output = _refused([*args, "--data", str(file)])
        assert f"the data folder {file}" in output
        assert "not a folder" in output
    assert file.read_bytes() == b"not a folder"


@pytest.mark.parametrize("secret", ["short", "changeme-changeme-changeme-changeme-1234", "a" * 40])
def test_a_weak_jwt_secret_names_the_setting(tmp_path: Path, secret: str) -> None:
    output = _refused(
        ["serve", "--data", str(tmp_path / "d"), "--port", "1"], {"FACEPAY_JWT_SECRET": secret}
    )
    assert "FACEPAY_JWT_SECRET must be >= 32 random bytes" in output
    assert secret not in output


def test_a_bad_setting_value_names_the_variable_and_not_the_value(tmp_path: Path) -> None:
    output = _refused(
        ["audit", "verify", "--data", str(tmp_path)], {"FACEPAY_STAFF_TOKEN_TTL_SECONDS": "-5"}
    )
    assert output.startswith("error: FACEPAY_STAFF_TOKEN_TTL_SECONDS:")
    assert "-5" not in output


def test_production_without_a_jwt_secret(tmp_path: Path) -> None:
    output = _refused(
        ["serve", "--data", str(tmp_path), "--port", "1"], {"FACEPAY_ENVIRONMENT": "production"}
    )
    assert "FACEPAY_JWT_SECRET must be set outside the dev environment" in output


@pytest.mark.parametrize(
    "url", ["not a url", "mysql://user:pw@db/facepay", "postgresql+nosuchdriver://u@h/d"]
)
def test_a_malformed_database_url(tmp_path: Path, url: str) -> None:
    output = _refused(["audit", "verify", "--data", str(tmp_path)], {"FACEPAY_DATABASE_URL": url})
    assert "FACEPAY_DATABASE_URL is not a database URL facepay can use" in output
    assert "pw" not in output


def test_an_unreachable_database_masks_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://facepay:s3cret-pw@127.0.0.1:1/facepay"
    output = _refused(
        ["admin", "init", "--data", str(tmp_path)], {"FACEPAY_DATABASE_URL": url}, process=True
    )
    assert "cannot use the database postgresql+psycopg://facepay:***@127.0.0.1:1/facepay" in output
    assert "s3cret-pw" not in output
    assert "Connection refused" in output


def test_a_template_key_that_is_not_a_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _init(data)
    output = _refused(
        ["admin", "check", "--data", str(data)], {"FACEPAY_TEMPLATE_KEY_FILE": str(tmp_path)}
    )
    assert "template key" in output


def test_errors_under_json_are_json_on_stdout(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    for args in (["audit", "verify"], ["admin", "check"]):
        done = run_cli([*args, "--json", "--data", str(missing)], ENV)
        assert done.returncode == 2
        error = json.loads(done.stdout)["error"]
        assert error["code"] == "not_initialised"
        assert "not initialised" in error["message"]
        assert done.stderr.strip() == ""


def _rows(data: Path) -> dict[str, int]:
    with closing(sqlite3.connect(data / "facepay.sqlite")) as conn:
        tables = ("hospitals", "staff_users", "audit_log", "installation")
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_a_missing_template_key_is_not_replaced_by_a_new_one(tmp_path: Path) -> None:
    """The key file was lost: a new key used to be made in its place, which opens nothing."""
    data = tmp_path / "data"
    _init(data)
    (data / "template.key").unlink()
    for args in (["admin", "check"], ["serve", "--port", "1"]):
        output = _refused([*args, "--data", str(data)])
        assert f"the template key {data / 'template.key'} is missing" in output
        assert "restore the key file from its backup" in output
    assert not (data / "template.key").exists()


def test_a_database_of_a_newer_facepay_or_behind_with_migrations_off(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _init(data)
    with closing(sqlite3.connect(data / "facepay.sqlite")) as conn:
        current = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
        conn.commit()
    output = _refused(["audit", "verify", "--data", str(data)])
    assert "is at revision 9999_future, which a newer facepay made" in output
    with closing(sqlite3.connect(data / "facepay.sqlite")) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0009'")
        conn.commit()
    behind = _refused(
        ["audit", "verify", "--data", str(data)], {"FACEPAY_DATABASE_MIGRATE_ON_START": "false"}
    )
    assert f"this facepay needs {current}: run `facepay admin migrate` first" in behind


@pytest.mark.postgres
def test_a_mistyped_postgresql_database_is_left_as_it_was(
    tmp_path: Path, create_postgres_database: Any
) -> None:
    """Pointed at an existing database without facepay's schema, commands used to create the
    whole schema there before saying "not initialised"."""
    url = create_postgres_database("facepay_wrong_")
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    output = _refused(["audit", "verify", "--data", str(data)], {"FACEPAY_DATABASE_URL": url})
    assert "has no facepay schema" in output
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
