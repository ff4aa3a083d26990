"""Operating an installation: `facepay admin migrate`, `backup`, `restore` and `rotate-key`
(registered on the `admin` group; docs/operations.md walks through each).

Exit codes: 0 done; 1 `migrate --check` found migrations pending; 2 the operator must fix
something first (a wrong folder or key, an unreachable database, a damaged archive) - one line
on stderr, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from facepay.adapters.interchange import shipped_policies
from facepay.bootstrap import (
    build_engine,
    build_unit_of_work,
    data_dir,
    database_error_line,
    masked_url,
)
from facepay.commands import fail
from facepay.commands.admin import app
from facepay.commands.serve import DataDir, settings_for
from facepay.config import Settings
from facepay.services.context import StorageServices
from facepay.shared.clock import SystemClock
from facepay.shared.errors import ConfigurationError

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
EXIT_PENDING = 1


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _as_is(settings: Settings) -> Settings:
    """The settings, but opening the database never migrates it (these commands decide)."""
    return settings.model_copy(update={"database_migrate_on_start": False})


@contextmanager
def _database(settings: Settings) -> Iterator[Engine]:
    """The engine, checked reachable, not migrated; disposed afterwards."""
    engine = build_engine(_as_is(settings))
    try:
        yield engine
    finally:
        engine.dispose()


def _require_installation(settings: Settings) -> None:
    """Refuse a folder (or SQLite file) that does not exist, without creating it."""
    folder = settings.data_dir
    if not folder.is_dir():
        raise ConfigurationError(
            f"no data folder {folder}: give the folder of an installation (--data)",
            code="not_initialised",
        )
    if settings.database_url is None and not settings.sqlite_path.is_file():
        raise ConfigurationError(
            f"{folder} holds no facepay.sqlite: give the folder of an installation (--data), "
            "or set FACEPAY_DATABASE_URL to its PostgreSQL database",
            code="not_initialised",
        )


def _json(value: Any) -> None:
    typer.echo(json.dumps(value, sort_keys=True, default=str))


def _unreachable(settings: Settings, error: SQLAlchemyError, as_json: bool) -> typer.Exit:
    url = masked_url(settings.resolved_database_url())
    cause = database_error_line(error)
    return fail(f"the database {url} failed: {cause}", code="database_error", as_json=as_json)


@app.command("migrate")
def migrate(
    data: DataDir = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Change nothing; exit 1 if migrations are pending, 0 if none are."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Apply the pending database migrations (Alembic) and print the revision before and
    after; with FACEPAY_DATABASE_MIGRATE_ON_START=false this is the only thing that migrates."""
    from facepay.adapters.db.migrate import upgrade  # noqa: PLC0415
    from facepay.adapters.db.snapshot import (  # noqa: PLC0415
        current_revision,
        head_revision,
        is_known_revision,
        pending_revisions,
    )

    settings = settings_for(data)
    head = head_revision()
    where = masked_url(settings.resolved_database_url())
    try:
        if check and settings.database_url is None and not settings.sqlite_path.exists():
            before: str | None = None  # --check creates no database file
            pending = pending_revisions(before)
        else:
            with _database(settings) as engine:
                with engine.connect() as connection:
                    before = current_revision(connection)
                if before is not None and not is_known_revision(before):
                    raise fail(f"the database {where} is at revision {before}, which this "
                               f"facepay does not know (newest {head}): a newer facepay "
                               "migrated it", code="database_too_new", as_json=as_json)  # fmt: skip
                pending = pending_revisions(before)
                if not check and pending:
                    upgrade(engine)
    except SQLAlchemyError as error:
        raise _unreachable(settings, error, as_json) from None
    after = before if check else head
    if as_json:
        _json({"database": where, "from": before, "to": after, "head": head, "pending": pending,
               "applied": [] if check else pending})  # fmt: skip
    elif check:
        _out().print(
            f"{where}: revision {before or 'none (empty database)'}, newest {head}: "
            + (f"{len(pending)} migration(s) pending ({', '.join(pending)})" if pending else
               "up to date")
        )  # fmt: skip
    elif pending:
        _out().print(f"{where}: migrated from {before or 'an empty database'} to {head} "
                     f"({', '.join(pending)})")  # fmt: skip
    else:
        _out().print(f"{where}: at revision {head}, nothing to migrate")
    raise typer.Exit(code=EXIT_PENDING if check and pending else 0)


def _installation(settings: Settings, database: Engine) -> Any:
    from facepay.services.backup import Installation  # noqa: PLC0415

    return Installation(
        database=database,
        data_dir=data_dir(settings),
        key_file=settings.resolved_template_key_file(),
        gallery_path=settings.data_dir / "gallery.sealed",
        sqlite_path=settings.sqlite_path if settings.database_url is None else None,
    )


@app.command("backup")
def backup(
    to: Annotated[Path, typer.Option("--to", help="The archive to write (a new file, .tar.gz).")],
    data: DataDir = None,
    include_key: Annotated[
        bool,
        typer.Option(
            "--include-key",
            help="Put the template key in the archive too (then whoever has the archive can "
            "open every face template).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Back up the database (consistent while the server runs) and the gallery file into one
    archive with a manifest; the template key is backed up separately unless --include-key."""
    from facepay.services.backup import backup as run_backup  # noqa: PLC0415

    settings = settings_for(data)
    try:
        _require_installation(settings)  # a wrong folder is refused, not created
        with _database(settings) as engine:
            site = _installation(settings, engine)
            report = run_backup(site=site, to=to, include_key=include_key)
    except SQLAlchemyError as error:
        raise _unreachable(settings, error, as_json) from None
    m = report.manifest
    if as_json:
        _json({"path": str(report.path), "bytes": report.bytes, "seconds": report.seconds,
               "manifest": dataclasses.asdict(m)})  # fmt: skip
    else:
        rows = sum(m.tables.values())
        _out().print(
            f"backup {report.path} ({report.bytes:,} bytes, {report.seconds:.1f} s): "
            f"{m.source} database at revision {m.revision}, {rows:,} rows in "
            f"{len(m.tables)} tables; gallery file "
            + ("included" if "gallery.sealed" in m.files else "absent (rebuilt on restore)")
        )
    keys = ", ".join(m.key_ids) or "none recorded"
    if m.key_included:
        _err().print(
            f"[bold red]warning:[/bold red] the template key ({keys}) is IN this archive: "
            "anyone holding the file can open every face template. Store it encrypted, apart "
            "from ordinary backups, and destroy it when no longer needed."
        )
    elif m.key_ids:
        _err().print(
            f"note: the template key (id {keys}) is NOT in this archive: back up "
            f"{settings.resolved_template_key_file()} separately; a restore needs it."
        )


@app.command("restore")
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive written by `facepay admin backup`.")],
    data: DataDir = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a target database that already holds data."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Restore a backup into the data folder / database: checks the archive's checksums and
    the template key's id first, refuses a database holding data unless --force, and migrates
    a backup made by an older facepay. Stop the server first."""
    from facepay.services.backup import restore as run_restore  # noqa: PLC0415

    settings = settings_for(data)
    if not archive.is_file():  # before the target folder is made
        raise fail(f"no backup file {archive}", code="backup_missing", as_json=as_json)
    try:
        with _database(settings) as engine:
            site = _installation(settings, engine)
            report = run_restore(site=site, archive=archive, force=force)
    except SQLAlchemyError as error:
        raise _unreachable(settings, error, as_json) from None
    m = report.manifest
    if as_json:
        _json({"manifest": dataclasses.asdict(m), "migrated_to": report.migrated_to,
               "tables": report.tables, "keys_installed": report.keys_installed,
               "gallery": report.gallery, "replaced": report.replaced,
               "seconds": report.seconds})  # fmt: skip
        return
    migrated = (
        f", migrated from {m.revision} to {report.migrated_to}"
        if report.migrated_to != m.revision
        else ""
    )
    out = _out()
    out.print(
        f"restored {archive} (facepay {m.facepay_version}, {m.created_at}) into "
        f"{masked_url(settings.resolved_database_url())}: {sum(report.tables.values()):,} rows "
        f"in {len(report.tables)} tables at revision {m.revision}{migrated}; gallery file "
        + ("restored" if report.gallery else "absent (the server rebuilds it)")
    )
    if report.replaced:
        out.print(f"replaced the data that was there (in {', '.join(report.replaced)})")
    if report.keys_installed:
        out.print(f"template key(s) {', '.join(report.keys_installed)} installed from the archive")


@app.command("rotate-key")
def rotate_key(
    data: DataDir = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Templates re-sealed per transaction.")
    ] = 500,
    pause: Annotated[
        float, typer.Option(min=0, help="Seconds to wait between batches (spares the database).")
    ] = 0.0,
    grace: Annotated[
        float,
        typer.Option(
            min=0, help="Seconds running servers get to pick up the new key (they look every 1 s)."
        ),
    ] = 5.0,
    as_json: JsonFlag = False,
) -> None:
    """Rotate the template key without stopping the server: a new key, every template and
    the gallery file re-sealed under it in batches, the old key retired. Safe to interrupt:
    run it again and it carries on where it stopped."""
    from facepay.adapters.db.sealed_rows import SqlAlchemySealedRows  # noqa: PLC0415
    from facepay.services.key_rotation import Progress, rotate_template_key  # noqa: PLC0415

    settings = settings_for(data)
    err = _err()
    last = [0.0]

    def show(step: Progress) -> None:
        if as_json or time.monotonic() - last[0] < 1.0:
            return
        last[0] = time.monotonic()
        err.print(f"pass {step.rotation_pass}: {step.scanned:,} templates checked, "
                  f"{step.resealed:,} re-sealed")  # fmt: skip
        sys.stderr.flush()

    try:
        _require_installation(settings)
        with _database(settings) as engine:
            storage = StorageServices(
                settings=settings,
                policies=shipped_policies(),
                uow=build_unit_of_work(settings, engine),
                clock=SystemClock(),
            )
            report = rotate_template_key(
                ctx=storage,
                key_file=settings.resolved_template_key_file(),
                rows=SqlAlchemySealedRows(engine),
                gallery_path=settings.data_dir / "gallery.sealed",
                batch_size=batch_size,
                pause=pause,
                grace=grace,
                progress=show,
            )
    except SQLAlchemyError as error:
        raise _unreachable(settings, error, as_json) from None
    if as_json:
        _json(dataclasses.asdict(report))
        return
    out = _out()
    if report.completed_earlier:
        out.print(f"the rotation to key {report.new_key_id} had finished; removed the retired "
                  f"key file of {report.old_key_id}")  # fmt: skip
        return
    out.print(
        f"template key rotated{' (resumed)' if report.resumed else ''}: {report.old_key_id} -> "
        f"{report.new_key_id}; {report.resealed:,} template(s) re-sealed"
        + (f", {report.already_new:,} already under the new key" if report.already_new else "")
        + f" in {report.passes} passes; gallery file {report.gallery}; {report.seconds:.1f} s"
    )
    if report.unreadable:
        out.print(f"{len(report.unreadable)} template(s) open under neither key (damaged): run "
                  "`facepay admin check` to quarantine them")  # fmt: skip
    err.print(
        f"note: the old key {report.old_key_id} is gone from {settings.data_dir}; key backups of "
        "it still open database backups made before now: keep both, or destroy both. Back up "
        f"the new {settings.resolved_template_key_file()} now."
    )
