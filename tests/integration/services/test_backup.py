"""Backup and restore through the services (facepay.services.backup) on both databases: a round
trip (SQLite and PostgreSQL each way) gives the same rows, chains that verify, a gallery file the
restored server loads as is, and a ledger that takes the next payment; a backup taken while
another thread writes is one consistent moment; damaged archives and wrong keys are refused
before anything is written."""

from __future__ import annotations

import gzip
import io
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from tests.integration.services import installation as kit

from facepay.adapters.crypto import new_key, write_key_file
from facepay.adapters.data_dir import create_private_file
from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.snapshot import current_revision, head_revision
from facepay.services.audit import verify_audit
from facepay.services.backup import Installation, backup, read_archive, restore
from facepay.services.gallery_sync import load_gallery
from facepay.shared.errors import ConfigurationError, Conflict, InvalidInput

TARGETS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _site(engine: Engine, folder: Path) -> Installation:
    sqlite = folder / "facepay.sqlite" if engine.dialect.name == "sqlite" else None
    return Installation(engine, folder, folder / "template.key", folder / "gallery.sealed", sqlite)


@pytest.fixture
def source(engine: Engine, database_url: str, tmp_path: Path) -> tuple[Installation, Any]:
    """The test's database (SQLite in tmp_path, or PostgreSQL) filled with data."""
    url = None if engine.dialect.name == "sqlite" else database_url
    ctx = kit.services(engine, tmp_path, database_url=url)
    kit.populate(ctx)
    return _site(engine, tmp_path), ctx


@pytest.fixture
def sqlite_source(tmp_path: Path) -> Iterator[tuple[Installation, Any]]:
    """The same on SQLite only, for the tests whose subject is the archive, not the database."""
    folder = tmp_path / "sqlite-source"
    folder.mkdir(mode=0o700)
    create_private_file(folder / "facepay.sqlite")
    engine = database_engine(f"sqlite:///{folder / 'facepay.sqlite'}")
    upgrade(engine)
    ctx = kit.services(engine, folder)
    kit.populate(ctx, people=6)
    yield _site(engine, folder), ctx
    engine.dispose()


@pytest.fixture
def make_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[str], tuple[Installation, str | None]]]:
    """An empty installation on the given backend: (its parts, its PostgreSQL URL or None)."""
    engines: list[Engine] = []

    def make(backend: str) -> tuple[Installation, str | None]:
        folder = tmp_path / f"target-{len(engines)}"
        folder.mkdir(mode=0o700)
        url = None
        if backend == "sqlite":
            create_private_file(folder / "facepay.sqlite")
            engine = database_engine(f"sqlite:///{folder / 'facepay.sqlite'}")
        else:
            url = request.getfixturevalue("create_postgres_database")("facepay_restore_")
            engine = database_engine(url)
        engines.append(engine)
        return _site(engine, folder), url

    yield make
    for engine in engines:
        engine.dispose()


def _copy_key(source: Installation, target: Installation) -> None:
    write_key_file(target.key_file, source.key_file.read_bytes())


@pytest.mark.parametrize("target_backend", TARGETS)
def test_a_round_trip_restores_every_row_and_the_restored_site_works(
    source: tuple[Installation, Any],
    make_target: Callable[[str], tuple[Installation, str | None]],
    tmp_path: Path,
    target_backend: str,
) -> None:
    site, ctx = source
    archive = tmp_path / "backup.tar.gz"
    made = backup(site=site, to=archive)
    assert made.manifest.revision == head_revision()
    assert made.manifest.key_ids == [ctx.sealer.key_id]
    assert not made.manifest.key_included
    assert set(made.manifest.files) == {"database.sqlite", "gallery.sealed"}
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        assert "template.key" not in tar.getnames()

    target, url = make_target(target_backend)
    _copy_key(site, target)  # kept apart from the backups, as docs/operations.md says
    done = restore(site=target, archive=archive)
    assert done.tables == made.manifest.tables
    assert kit.dump(target.database) == kit.dump(site.database)

    restored = kit.services(target.database, target.data_dir, database_url=url)
    before = verify_audit(ctx=restored)
    assert before.ok
    loaded = load_gallery(ctx=restored)
    assert (loaded.source, loaded.templates) == ("file", 13)  # the gallery file as it was
    kit.pay(restored, "h2", 5, 50_000, "after-restore")
    report = verify_audit(ctx=restored)
    assert report.ok
    assert report.entries_checked > before.entries_checked  # the chain goes on after a restore


def test_a_backup_taken_while_another_thread_writes_is_one_moment(
    source: tuple[Installation, Any],
    make_target: Callable[[str], tuple[Installation, str | None]],
    tmp_path: Path,
) -> None:
    site, ctx = source
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        serial = 10_000
        while not stop.is_set():
            kit.register(ctx, serial, fen=777)  # person, accounts, transfer, audit: one commit
            written.append(serial)
            serial += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            time.sleep(0.01)
        before = len(written)
        made = backup(site=site, to=tmp_path / "busy.tar.gz")
        after = len(written)
        while len(written) < after + 2:  # and it goes on writing after the backup
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    target, _ = make_target("sqlite")
    _copy_key(site, target)
    restore(site=target, archive=tmp_path / "busy.tar.gz")
    with target.database.connect() as c:
        people = c.execute(
            text("SELECT count(*) FROM insured_persons WHERE name LIKE 'Person 1____'")
        ).scalar_one()
        registered = c.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'registry.add_person'")
        ).scalar_one()
        openings = c.execute(
            text(
                "SELECT count(*), coalesce(sum(amount), 0) FROM transfers"
                " WHERE request_key LIKE 'opening:%' AND amount = 777"
            )
        ).one()
        debits, credits = c.execute(
            text("SELECT sum(debits_posted), sum(credits_posted) FROM account_totals")
        ).one()
    assert people == openings[0] == registered - 12  # 12 people were registered before
    assert openings[1] == 777 * people
    assert debits == credits
    assert before <= people <= after + 1  # one in flight may have committed, not yet counted
    assert made.manifest.tables["insured_persons"] == people + 12
    assert verify_audit(ctx=kit.services(target.database, target.data_dir)).ok


def test_an_older_backup_is_migrated_on_restore(
    make_target: Callable[[str], tuple[Installation, str | None]], tmp_path: Path
) -> None:
    old, _ = make_target("sqlite")
    upgrade(old.database, "0007")
    with old.database.begin() as c:
        c.execute(
            text(
                "INSERT INTO hospitals (id, name, created_at)"
                " VALUES ('h9', 'Old', '2026-01-01 08:00:00.000000')"
            )
        )
    made = backup(site=old, to=tmp_path / "old.tar.gz")
    assert made.manifest.revision == "0007"
    assert made.manifest.key_ids == []
    target, _ = make_target("sqlite")
    done = restore(site=target, archive=tmp_path / "old.tar.gz")
    assert done.migrated_to == head_revision()
    with target.database.connect() as c:
        assert current_revision(c) == head_revision()
        assert c.execute(text("SELECT name FROM hospitals")).scalar_one() == "Old"


def test_restore_refuses_a_target_with_data_unless_forced(
    source: tuple[Installation, Any],
    make_target: Callable[[str], tuple[Installation, str | None]],
    tmp_path: Path,
) -> None:
    site, _ = source
    backup(site=site, to=tmp_path / "b.tar.gz")
    target, _ = make_target("sqlite")
    _copy_key(site, target)
    upgrade(target.database)  # a freshly migrated database is empty: the seeded chart is no data
    restore(site=target, archive=tmp_path / "b.tar.gz")
    with pytest.raises(Conflict) as caught:
        restore(site=target, archive=tmp_path / "b.tar.gz")
    assert caught.value.code == "target_not_empty"
    assert "--force" in caught.value.message
    again = restore(site=target, archive=tmp_path / "b.tar.gz", force=True)
    assert "insured_persons" in again.replaced
    assert kit.dump(target.database) == kit.dump(site.database)


def test_restore_checks_the_key_before_writing_anything(
    sqlite_source: tuple[Installation, Any],
    make_target: Callable[[str], tuple[Installation, str | None]],
    tmp_path: Path,
) -> None:
    site, ctx = sqlite_source
    backup(site=site, to=tmp_path / "b.tar.gz")
    target, _ = make_target("sqlite")
    with pytest.raises(ConfigurationError) as missing:
        restore(site=target, archive=tmp_path / "b.tar.gz")
    assert missing.value.code == "missing_template_key"
    assert ctx.sealer.key_id in missing.value.message
    write_key_file(target.key_file, new_key())
    with pytest.raises(ConfigurationError) as wrong:
        restore(site=target, archive=tmp_path / "b.tar.gz")
    assert wrong.value.code == "wrong_template_key"
    with target.database.connect() as c:
        assert current_revision(c) is None  # nothing was written
    assert not target.gallery_path.exists()


def test_include_key_puts_the_key_in_and_restore_installs_it(
    sqlite_source: tuple[Installation, Any],
    make_target: Callable[[str], tuple[Installation, str | None]],
    tmp_path: Path,
) -> None:
    site, ctx = sqlite_source
    made = backup(site=site, to=tmp_path / "k.tar.gz", include_key=True)
    assert made.manifest.key_included
    target, _ = make_target("sqlite")
    done = restore(site=target, archive=tmp_path / "k.tar.gz")
    assert done.keys_installed == [ctx.sealer.key_id]
    assert target.key_file.read_bytes() == site.key_file.read_bytes()
    assert target.key_file.stat().st_mode & 0o777 == 0o600


def _tamper(archive: Path, out: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(out, "w:gz") as tar:
        for info, data in members:
            changed = change(data) if info.name == member else data
            info.size = len(changed)
            tar.addfile(info, io.BytesIO(changed))


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("truncated", "damaged or truncated"),
        ("flipped", "is not a usable facepay backup"),
        ("database", "database.sqlite does not match its checksum"),
        ("gallery", "gallery.sealed does not match its checksum"),
        ("manifest", "manifest is unreadable"),
        ("extra", "unexpected member"),
        ("not-gzip", "damaged or truncated"),
    ],
)
def test_a_damaged_archive_is_refused(
    sqlite_source: tuple[Installation, Any],
    make_target: Callable[[str], tuple[Installation, str | None]],
    tmp_path: Path,
    damage: str,
    words: str,
) -> None:
    site, _ = sqlite_source
    good = tmp_path / "good.tar.gz"
    backup(site=site, to=good)
    bad = tmp_path / "bad.tar.gz"
    raw = good.read_bytes()
    if damage == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "flipped":
        bad.write_bytes(raw[:200] + bytes([raw[200] ^ 0xFF]) + raw[201:])
    elif damage in ("database", "gallery"):
        name = "database.sqlite" if damage == "database" else "gallery.sealed"
        _tamper(good, bad, name, lambda d: d[:-1] + bytes([d[-1] ^ 1]))
    elif damage == "manifest":
        _tamper(good, bad, "manifest.json", lambda d: d[:10])
    elif damage == "extra":
        with tarfile.open(bad, "w:gz") as tar:
            info = tarfile.TarInfo("../../etc/evil")
            tar.addfile(info, io.BytesIO(b""))
    else:
        bad.write_bytes(gzip.decompress(raw)[:5000])
    target, _ = make_target("sqlite")
    _copy_key(site, target)
    with pytest.raises(InvalidInput) as caught:
        restore(site=target, archive=bad)
    assert words in caught.value.message
    assert "\n" not in caught.value.message
    with target.database.connect() as c:
        assert current_revision(c) is None


def test_read_archive_checks_every_member(
    sqlite_source: tuple[Installation, Any], tmp_path: Path
) -> None:
    site, _ = sqlite_source
    backup(site=site, to=tmp_path / "b.tar.gz")
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    manifest = read_archive(tmp_path / "b.tar.gz", unpacked)
    assert sorted(p.name for p in unpacked.iterdir()) == [
        "database.sqlite",
        "gallery.sealed",
        "manifest.json",
    ]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in unpacked.iterdir())
    assert (
        manifest.files["database.sqlite"]["bytes"] == (unpacked / "database.sqlite").stat().st_size
    )


def test_a_backup_never_overwrites_a_file(
    sqlite_source: tuple[Installation, Any], tmp_path: Path
) -> None:
    site, _ = sqlite_source
    (tmp_path / "taken.tar.gz").write_text("earlier backup")
    with pytest.raises(InvalidInput) as caught:
        backup(site=site, to=tmp_path / "taken.tar.gz")
    assert caught.value.code == "backup_exists"
    assert (tmp_path / "taken.tar.gz").read_text() == "earlier backup"


def test_restore_leaves_other_software_s_tables_alone(
    sqlite_source: tuple[Installation, Any],
    make_target: Callable[[str], tuple[Installation, str | None]],
    tmp_path: Path,
) -> None:
    site, _ = sqlite_source
    backup(site=site, to=tmp_path / "b.tar.gz")
    target, _ = make_target("sqlite")
    _copy_key(site, target)
    with target.database.begin() as c:
        c.execute(text("CREATE TABLE other_app (note TEXT)"))
        c.execute(text("INSERT INTO other_app VALUES ('keep me')"))
    restore(site=target, archive=tmp_path / "b.tar.gz")  # not facepay's data: no --force needed
    restore(site=target, archive=tmp_path / "b.tar.gz", force=True)
    with target.database.connect() as c:
        assert c.execute(text("SELECT note FROM other_app")).scalar_one() == "keep me"


def test_a_backup_from_a_newer_facepay_is_refused(
    sqlite_source: tuple[Installation, Any],
    make_target: Callable[[str], tuple[Installation, str | None]],
    tmp_path: Path,
) -> None:
    site, _ = sqlite_source
    backup(site=site, to=tmp_path / "b.tar.gz")
    newer = tmp_path / "newer.tar.gz"
    revision = f'"revision": "{head_revision()}"'.encode()
    _tamper(tmp_path / "b.tar.gz", newer, "manifest.json",
            lambda d: d.replace(revision, b'"revision": "9999"'))  # fmt: skip
    target, _ = make_target("sqlite")
    _copy_key(site, target)
    with pytest.raises(InvalidInput) as caught:
        restore(site=target, archive=newer)
    assert caught.value.code == "backup_too_new"
    assert "upgrade facepay first" in caught.value.message
