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


def _installation_with_a_template(runner: CliRunner, data: Path) -> str:
    """An initialised folder with one registered person and one sealed face template."""
    from datetime import UTC, date, datetime  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    from facepay.bootstrap import build_storage, build_template_sealer  # noqa: PLC0415
    from facepay.config import Settings  # noqa: PLC0415
    from facepay.demo.people import id_number  # noqa: PLC0415
    from facepay.identity.id_card import IdCard  # noqa: PLC0415
    from facepay.identity.records import TemplateRecord  # noqa: PLC0415
    from facepay.services.admin import register_insured_person  # noqa: PLC0415

    created = runner.invoke(app, ["admin", "init", "--hospital", "H", "--data", str(data)])
    assert created.exit_code == 0, created.output
    settings = Settings(data_dir=data)
    storage = build_storage(settings)
    number = id_number(date(1980, 1, 1), 5, male=True)
    person = register_insured_person(
        ctx=storage,
        actor="test",
        id_card=IdCard(number, "P", "M", date(1980, 1, 1)),
        category="employee_active",
        insurance_card_number="IC123456",
    )
    vector = np.zeros(128, dtype="<f4")
    vector[0] = 1.0
    sealed = build_template_sealer(settings).seal(
        vector.tobytes(), template_id="tpl_cli", model_version="dlib-resnet-v1"
    )
    with storage.uow() as uow:
        admin = uow.tenants.staff_by_username("admin")
        assert admin is not None
        assert admin.hospital_id is not None
        record = TemplateRecord(
            "tpl_cli",
            person.id,
            admin.hospital_id,
            "dlib-resnet-v1",
            sealed,
            datetime.now(UTC),
            scope=f"site:{admin.hospital_id}",
        )
        uow.templates.add(record)
        uow.commit()
    return "tpl_cli"


def test_a_damaged_template_row_leaves_the_audit_chain_intact_and_admin_check_reports_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    template = _installation_with_a_template(runner, data)
    with closing(sqlite3.connect(data / "facepay.sqlite")) as conn:
        (sealed,) = conn.execute("SELECT sealed FROM face_templates").fetchone()
        conn.execute("UPDATE face_templates SET sealed = ?", (bytes(sealed[:-1]) + b"\x00",))
        conn.commit()
    verified = runner.invoke(app, ["audit", "verify", "--data", str(data)])
    assert verified.exit_code == 0, verified.output  # the audit chain is not the templates
    checked = runner.invoke(app, ["admin", "check", "--json", "--data", str(data)])
    assert checked.exit_code == 1, checked.output
    report = json.loads(checked.stdout)
    assert [q["template_id"] for q in report["quarantined"]] == [template]
    again = runner.invoke(app, ["admin", "check", "--data", str(data)])
    assert again.exit_code == 1
    assert template in again.output


def test_admin_check_with_the_wrong_key_is_one_sentence(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _installation_with_a_template(runner, data)
    clean = runner.invoke(app, ["admin", "check", "--data", str(data)])
    assert clean.exit_code == 0, clean.output
    (data / "template.key").write_bytes(bytes(32))
    refused = runner.invoke(app, ["admin", "check", "--data", str(data)])
    assert refused.exit_code == 2, refused.output
    assert "Traceback" not in refused.output
    assert "template key" in refused.output
    assert len(refused.output.strip().splitlines()) <= 2


def test_audit_checkpoint_signs_every_chain_and_verify_checks_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    created = runner.invoke(
        app, ["admin", "init", "--hospital", "CLI Hospital", "--data", str(data)]
    )
    assert created.exit_code == 0, created.output
    key_file = data / "audit-checkpoint.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    public = created.output.split("public key ")[1].split()[0]
    made = runner.invoke(app, ["audit", "checkpoint", "--json", "--data", str(data)])
    assert made.exit_code == 0, made.output
    document = json.loads(made.output)
    assert document["seq"] == 1
    assert len(document["heads"]) == 2  # the platform's chain and the hospital's
    intact = runner.invoke(app, ["audit", "verify", "--data", str(data)])
    assert intact.exit_code == 0, intact.output
    assert "1 signed checkpoint" in intact.output

    with closing(sqlite3.connect(data / "facepay.sqlite")) as conn:
        conn.execute("UPDATE audit_checkpoints SET signature = 'AAAA' WHERE seq = 1")
        conn.commit()
    key_file.unlink()  # a verifier away from the server holds only the public key
    forged = runner.invoke(app, ["audit", "verify", "--public-key", public, "--data", str(data)])
    assert forged.exit_code == 1
    assert "audit checkpoint 1 bad" in forged.output
    assert "bad_signature" in forged.output
    without_key = runner.invoke(app, ["audit", "verify", "--json", "--data", str(data)])
    assert without_key.exit_code == 1
    assert json.loads(without_key.output)["checkpoint_problem"]["problem"] == "no_checkpoint_key"
