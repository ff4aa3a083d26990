"""The operations commands through the real CLI: `facepay admin migrate`, `backup`, `restore`
and `rotate-key` - exit codes, one-line refusals, a rotation killed with SIGKILL and run again,
and a rotation under a real `facepay serve` that keeps identifying and enrolling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from tests.e2e.conftest import SERVED_ENV
from tests.integration.services import installation as kit
from typer.testing import CliRunner, Result

from facepay.adapters.crypto import (
    TemplateKeyring,
    TemplateSealer,
    new_key,
    previous_key_file,
    read_key_file,
    write_key_file,
)
from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.snapshot import head_revision
from facepay.cli import app
from facepay.client import StaffSession, TerminalSession
from facepay.demo import kiosk
from facepay.demo.process import CLI, OPERATOR_PASSWORD, run_cli, serve_process
from facepay.demo.world import make_site, register_person
from facepay.shared.errors import InvalidInput
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import subjects_from_photo

ENV = {
    "FACEPAY_ADMIN_PASSWORD": "cli-admin-pass-2026",
    "FACEPAY_OPERATOR_PASSWORD": "cli-operator-pass-2026",
    "FACEPAY_ENVIRONMENT": "dev",
}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FACEPAY_DATABASE_URL", raising=False)
    monkeypatch.delenv("FACEPAY_DATA_DIR", raising=False)
    return CliRunner()


def _one_line_refusal(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _sqlite(data: Path) -> Engine:
    return database_engine(f"sqlite:///{data / 'facepay.sqlite'}")


@pytest.fixture
def site(runner: CliRunner, tmp_path: Path) -> Iterator[tuple[Path, Engine, str]]:
    """An initialised folder (`admin init --hospital H`) with 60 sealed templates:
    (folder, engine, hospital id)."""
    data = tmp_path / "site"
    created = runner.invoke(app, ["admin", "init", "--hospital", "H", "--data", str(data)])
    assert created.exit_code == 0, created.output
    engine = _sqlite(data)
    with engine.connect() as c:
        hospital = c.execute(text("SELECT id FROM hospitals")).scalar_one()
    kit.add_many_templates(
        TemplateKeyring(data / "template.key"), engine, 60, hospital=hospital
    )  # fmt: skip
    yield data, engine, hospital
    engine.dispose()


# --- migrate ------------------------------------------------------------------------------


def test_migrate_check_then_migrate_a_new_folder(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "new"
    check = runner.invoke(app, ["admin", "migrate", "--check", "--data", str(data)])
    assert check.exit_code == 1, check.output
    assert "pending" in check.stdout
    assert not (data / "facepay.sqlite").exists()  # --check creates nothing
    done = runner.invoke(app, ["admin", "migrate", "--data", str(data)])
    assert done.exit_code == 0, done.output
    assert f"migrated from an empty database to {head_revision()}" in done.stdout
    again = runner.invoke(app, ["admin", "migrate", "--data", str(data)])
    assert (again.exit_code, "nothing to migrate" in again.stdout) == (0, True)
    clean = runner.invoke(app, ["admin", "migrate", "--check", "--json", "--data", str(data)])
    assert clean.exit_code == 0, clean.output
    assert '"pending": []' in clean.stdout


def test_migrate_an_older_database_says_from_and_to(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "old"
    data.mkdir(mode=0o700)
    engine = _sqlite(data)
    upgrade(engine, "0006")
    engine.dispose()
    check = runner.invoke(app, ["admin", "migrate", "--check", "--data", str(data)])
    assert check.exit_code == 1
    assert "revision 0006" in check.stdout
    assert "0007" in check.stdout
    done = runner.invoke(app, ["admin", "migrate", "--data", str(data)])
    assert done.exit_code == 0, done.output
    assert f"from 0006 to {head_revision()}" in done.stdout


def test_migrate_refuses_a_database_a_newer_facepay_migrated(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = tmp_path / "newer"
    data.mkdir(mode=0o700)
    engine = _sqlite(data)
    upgrade(engine)
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    for command in (["migrate"], ["migrate", "--check"]):
        line = _one_line_refusal(runner.invoke(app, ["admin", *command, "--data", str(data)]))
        assert "a newer facepay migrated it" in line


@pytest.mark.postgres
def test_migrate_a_postgresql_database(
    runner: CliRunner, tmp_path: Path, create_postgres_database: Any
) -> None:
    url = create_postgres_database("facepay_migrate_")
    env = {"FACEPAY_DATABASE_URL": url}
    check = runner.invoke(app, ["admin", "migrate", "--check", "--data", str(tmp_path)], env=env)
    assert check.exit_code == 1, check.output
    done = runner.invoke(app, ["admin", "migrate", "--data", str(tmp_path)], env=env)
    assert done.exit_code == 0, done.output
    assert "postgresql+psycopg://" in done.stdout
    assert "***" in done.stdout  # the password is not printed
    again = runner.invoke(app, ["admin", "migrate", "--check", "--data", str(tmp_path)], env=env)
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://facepay:s3cret-pw@127.0.0.1:1/facepay",  # nothing listens there
        "not a database url",
        "mysql://facepay:s3cret-pw@db/facepay",
    ],
)
@pytest.mark.parametrize("command", [["migrate"], ["migrate", "--check"], ["backup", "--to", "b"]])
def test_an_unusable_database_url_is_one_line(
    runner: CliRunner, tmp_path: Path, url: str, command: list[str]
) -> None:
    result = runner.invoke(
        app, ["admin", *command, "--data", str(tmp_path)], env={"FACEPAY_DATABASE_URL": url}
    )
    _one_line_refusal(result)
    assert "s3cret-pw" not in result.output


# --- backup and restore -------------------------------------------------------------------


def test_backup_and_restore_through_the_cli(
    runner: CliRunner, tmp_path: Path, site: tuple[Path, Engine, str]
) -> None:
    data, _, _ = site
    archive = tmp_path / "site.tar.gz"
    made = runner.invoke(app, ["admin", "backup", "--data", str(data), "--to", str(archive)])
    assert made.exit_code == 0, made.output
    assert "NOT in this archive" in made.stderr
    key_id = TemplateSealer(read_key_file(data / "template.key")).key_id
    assert key_id in made.stderr

    target = tmp_path / "restored"
    missing = _one_line_refusal(
        runner.invoke(app, ["admin", "restore", str(archive), "--data", str(target)])
    )
    assert "no template key" in missing
    assert key_id in missing
    write_key_file(target / "template.key", read_key_file(data / "template.key"))
    done = runner.invoke(app, ["admin", "restore", str(archive), "--data", str(target)])
    assert done.exit_code == 0, done.output
    assert f"at revision {head_revision()}" in done.stdout
    not_empty = _one_line_refusal(
        runner.invoke(app, ["admin", "restore", str(archive), "--data", str(target)])
    )
    assert "--force" in not_empty
    forced = runner.invoke(
        app, ["admin", "restore", str(archive), "--data", str(target), "--force"]
    )
    assert forced.exit_code == 0, forced.output
    assert "replaced the data that was there" in forced.stdout
    for command in (["audit", "verify"], ["admin", "check"]):
        checked = runner.invoke(app, [*command, "--data", str(target)])
        assert checked.exit_code == 0, checked.output
    assert "60 face template(s)" in checked.stdout


def test_a_damaged_archive_is_refused_through_the_cli(
    runner: CliRunner, tmp_path: Path, site: tuple[Path, Engine, str]
) -> None:
    data, _, _ = site
    archive = tmp_path / "site.tar.gz"
    assert (
        runner.invoke(app, ["admin", "backup", "--data", str(data), "--to", str(archive)]).exit_code
        == 0
    )
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[:-700])
    target = tmp_path / "t"
    write_key_file_for(target, data)
    line = _one_line_refusal(
        runner.invoke(app, ["admin", "restore", str(cut), "--data", str(target)])
    )
    assert "not a usable facepay backup" in line
    nothing = _one_line_refusal(
        runner.invoke(
            app, ["admin", "restore", str(tmp_path / "none.tar.gz"), "--data", str(target)]
        )
    )
    assert "no backup file" in nothing


def write_key_file_for(target: Path, source: Path) -> None:
    """Copy the source folder's key into `target` (made 0700), as an operator restores it."""
    target.mkdir(mode=0o700, exist_ok=True)
    write_key_file(target / "template.key", read_key_file(source / "template.key"))


def test_include_key_is_said_loudly_and_restores_without_a_key_at_hand(
    runner: CliRunner, tmp_path: Path, site: tuple[Path, Engine, str]
) -> None:
    data, _, _ = site
    archive = tmp_path / "with-key.tar.gz"
    made = runner.invoke(
        app, ["admin", "backup", "--data", str(data), "--to", str(archive), "--include-key"]
    )
    assert made.exit_code == 0, made.output
    assert "IN this archive" in made.stderr
    target = tmp_path / "elsewhere"
    done = runner.invoke(app, ["admin", "restore", str(archive), "--data", str(target)])
    assert done.exit_code == 0, done.output
    assert "installed from the archive" in done.stdout
    assert runner.invoke(app, ["admin", "check", "--data", str(target)]).exit_code == 0


def test_backup_refusals_change_nothing(
    runner: CliRunner, tmp_path: Path, site: tuple[Path, Engine, str]
) -> None:
    data, _, _ = site
    taken = tmp_path / "taken.tar.gz"
    taken.write_text("an earlier backup")
    line = _one_line_refusal(
        runner.invoke(app, ["admin", "backup", "--data", str(data), "--to", str(taken)])
    )
    assert "exists already" in line
    assert taken.read_text() == "an earlier backup"
    nowhere = tmp_path / "typo"
    _one_line_refusal(
        runner.invoke(
            app, ["admin", "backup", "--data", str(nowhere), "--to", str(tmp_path / "x.tar.gz")]
        )
    )
    assert not nowhere.exists()
    write_key_file(data / "template.key", new_key())
    wrong = _one_line_refusal(
        runner.invoke(
            app,
            [
                "admin",
                "backup",
                "--include-key",
                "--data",
                str(data),
                "--to",
                str(tmp_path / "y.tar.gz"),
            ],
        )
    )
    assert "do not hold the database's template key" in wrong


@pytest.mark.postgres
def test_a_sqlite_installation_moves_to_postgresql(
    runner: CliRunner,
    tmp_path: Path,
    site: tuple[Path, Engine, str],
    create_postgres_database: Any,
) -> None:
    data, _, _ = site
    archive = tmp_path / "move.tar.gz"
    assert (
        runner.invoke(app, ["admin", "backup", "--data", str(data), "--to", str(archive)]).exit_code
        == 0
    )
    target = tmp_path / "pg-site"
    write_key_file_for(target, data)
    env = {"FACEPAY_DATABASE_URL": create_postgres_database("facepay_move_")}
    done = runner.invoke(app, ["admin", "restore", str(archive), "--data", str(target)], env=env)
    assert done.exit_code == 0, done.output
    for command in (["audit", "verify"], ["admin", "check"]):
        # In a child process: those commands leave their connection to the pool at exit.
        checked = run_cli([*command, "--data", str(target)], {**ENV, **env})
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # And back: a backup of the PostgreSQL installation restores into a SQLite folder.
    back = tmp_path / "back.tar.gz"
    made = runner.invoke(
        app, ["admin", "backup", "--data", str(target), "--to", str(back)], env=env
    )
    assert made.exit_code == 0, made.output
    assert "postgresql database" in made.stdout
    home = tmp_path / "home"
    write_key_file_for(home, data)
    assert runner.invoke(app, ["admin", "restore", str(back), "--data", str(home)]).exit_code == 0
    assert runner.invoke(app, ["admin", "check", "--data", str(home)]).exit_code == 0


# --- rotate-key ---------------------------------------------------------------------------


def _under(sealer: TemplateSealer, engine: Engine) -> int:
    """How many template rows open under `sealer`."""
    opened = 0
    with engine.connect() as c:
        for template_id, version, sealed in c.execute(
            text("SELECT id, model_version, sealed FROM face_templates")
        ):
            try:
                sealer.open(bytes(sealed), template_id=template_id, model_version=version)
            except InvalidInput:
                continue
            opened += 1
    return opened


def test_rotate_key_killed_mid_way_finishes_when_run_again(
    runner: CliRunner, site: tuple[Path, Engine, str]
) -> None:
    data, engine, _ = site
    old = read_key_file(data / "template.key")
    command = [sys.executable, "-c", CLI, "admin", "rotate-key", "--data", str(data),
               "--batch-size", "5", "--pause", "0.15", "--grace", "0.3"]  # fmt: skip
    child = subprocess.Popen(command, env={**os.environ, **ENV}, stderr=subprocess.PIPE, text=True)
    assert child.stderr is not None
    seen = []
    for line in child.stderr:
        seen.append(line)
        if line.startswith("pass 1:"):
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stderr.close()
    assert child.returncode == -signal.SIGKILL, "".join(seen)
    new = TemplateSealer(read_key_file(data / "template.key"))
    assert read_key_file(previous_key_file(data / "template.key")) == old
    halves = (_under(TemplateSealer(old), engine), _under(new, engine))
    assert min(halves) > 0, halves  # really mid-way
    assert sum(halves) == 60
    # Killed there, the installation still works: every template opens.
    assert runner.invoke(app, ["admin", "check", "--data", str(data)]).exit_code == 0
    again = run_cli(["admin", "rotate-key", "--data", str(data), "--grace", "0.3"], ENV)
    assert again.returncode == 0, again.stderr
    assert "(resumed)" in again.stdout
    assert new.key_id in again.stdout
    assert not previous_key_file(data / "template.key").exists()
    assert _under(new, engine) == 60
    for command in (["admin", "check"], ["audit", "verify"]):
        checked = runner.invoke(app, [*command, "--data", str(data)])
        assert checked.exit_code == 0, checked.output


def test_rotate_key_with_a_wrong_key_file_is_one_line(
    runner: CliRunner, site: tuple[Path, Engine, str]
) -> None:
    data, _, _ = site
    write_key_file(data / "template.key", new_key())
    line = _one_line_refusal(
        runner.invoke(app, ["admin", "rotate-key", "--data", str(data), "--grace", "0"])
    )
    assert "do not match the database" in line
    os.chmod(data / "template.key", 0o644)
    unsafe = _one_line_refusal(
        runner.invoke(app, ["admin", "rotate-key", "--data", str(data), "--grace", "0"])
    )
    assert "chmod 600" in unsafe


def _identify(terminal: TerminalSession, face: Any, *, seed: int) -> httpx.Response:
    """An identification, taken again if the synthetic capture is refused (422)."""
    for attempt in range(3):
        found = kiosk.identify(terminal, face, seed=seed + attempt)
        if found.status_code != 422:
            break
    return found


@pytest.mark.slow
def test_a_running_server_identifies_and_enrols_while_rotate_key_runs(
    tmp_path: Path, face_engine: Any, images_dir: Path
) -> None:
    folder = tmp_path / "served"
    env = {k: v for k, v in SERVED_ENV.items() if k != "FACEPAY_GALLERY_BACKEND"}  # FAISS

    def subject(file: str) -> Any:
        return subjects_from_photo(face_engine, load_image(images_dir / file), file, file)[0]

    obama, biden = subject("obama2.jpg"), subject("biden.jpg")
    with (
        serve_process(folder, env=env) as server,
        httpx.Client(base_url=server.url, timeout=180) as http,
    ):
        operator = StaffSession.login(http, "operator", OPERATOR_PASSWORD)
        site = make_site(http, operator, serial=71)
        enrolled = kiosk.enrol(
            site.kiosk, site.person, load_image(images_dir / "obama.jpg"), obama, seed=1
        )
        assert enrolled.status_code == 201, enrolled.text
        engine = _sqlite(folder)
        kit.add_many_templates(
            TemplateKeyring(folder / "template.key"), engine, 150, hospital=site.hospital_id
        )
        old_id = TemplateSealer(read_key_file(folder / "template.key")).key_id
        biden_card = register_person(operator, serial=72, name="Joe Biden")

        rotation: dict[str, Any] = {}

        def rotate() -> None:
            rotation["done"] = run_cli(
                ["admin", "rotate-key", "--batch-size", "10", "--pause", "0.25", "--grace", "2"],
                {**env, "FACEPAY_DATA_DIR": str(folder)},
            )

        thread = threading.Thread(target=rotate)
        thread.start()
        answers = []
        biden_enrolled = enrolled_during = False
        seed = 10
        while thread.is_alive():
            seed += 1
            found = kiosk.identify(site.kiosk, obama, seed=seed)
            answers.append((found.status_code, found.json().get("decision") or found.text))
            if not biden_enrolled:
                for attempt in range(4):  # a synthetic capture is refused now and then
                    made = kiosk.enrol(
                        site.kiosk,
                        biden_card,
                        load_image(images_dir / "biden.jpg"),
                        biden,
                        seed=seed * 10 + attempt,
                    )
                    if made.status_code == 201:
                        break
                assert made.status_code == 201, made.text
                biden_enrolled = True
                enrolled_during = thread.is_alive()
        thread.join()
        done = rotation["done"]
        assert done.returncode == 0, done.stderr
        assert answers, "the rotation ended before any identification"
        # A synthetic capture is refused now and then (422, before any template is looked at);
        # every capture that reached the 1:N search matched.
        assert [a for a in answers if a != (201, "match") and a[0] != 422] == []
        # How many fit in the rotation's time depends on the machine's load; one is the point.
        assert sum(a == (201, "match") for a in answers) >= 1
        assert biden_enrolled
        assert enrolled_during, "the enrolment ended after the rotation"
        new_id = TemplateSealer(read_key_file(folder / "template.key")).key_id
        assert new_id != old_id
        assert f"{old_id} -> {new_id}" in done.stdout
        assert not previous_key_file(folder / "template.key").exists()
        for who, face in (("obama", obama), ("biden", biden)):
            after = _identify(site.kiosk, face, seed=99)
            assert (after.status_code, after.json()["decision"]) == (201, "match"), (
                who,
                after.text,
            )
        engine.dispose()
    # Restarted with the new key alone: it starts, every template opens, it still identifies.
    checked = run_cli(["admin", "check", "--data", str(folder)], env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with (
        serve_process(folder, env=env, init=False) as again,
        httpx.Client(base_url=again.url, timeout=180) as http,
    ):
        kiosk_again = TerminalSession.from_pem(http, site.kiosk.terminal_id, site.kiosk_pem)
        found = _identify(kiosk_again, biden, seed=123)
        assert (found.status_code, found.json()["decision"]) == (201, "match"), found.text
