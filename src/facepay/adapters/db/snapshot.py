"""Whole-database copies: the consistent snapshot a backup takes, the row copy a restore makes.

- SQLite: the online backup API (`sqlite3.Connection.backup`, all pages in one step) copies a
  live database as of one read transaction; in WAL mode the server's writers go on meanwhile.
- PostgreSQL: every table is read inside one REPEATABLE READ, READ ONLY transaction - one
  snapshot, taken without blocking anyone - and written into a SQLite file migrated to the same
  Alembic revision. No pg_dump is needed (a facepay host has no PostgreSQL client tools, and
  pg_dump must be at least as new as the server), and the copy restores into either database.

A backup's database is therefore always a SQLite file at some revision. A restore migrates the
target (SQLite or PostgreSQL) to that revision, empties it, copies every row, then upgrades it
to the newest revision. Columns are read and written through the reflected schema of each side,
so this module knows no table: a migration that adds one needs no change here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from facepay.adapters.data_dir import create_private_file
from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import MIGRATIONS, upgrade
from facepay.shared.errors import InvalidInput

VERSION_TABLE = "alembic_version"
SEEDED_TABLES = frozenset({"accounts", "regions"})
"""Tables a fresh migration fills (the chart of accounts, the default region): not data."""
BATCH_ROWS = 1_000


def head_revision() -> str:
    """The newest migration this facepay ships."""
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: no facepay schema)."""
    return MigrationContext.configure(connection).get_current_revision()


def pending_revisions(current: str | None) -> list[str]:
    """The migrations from `current` (exclusive) to the head, oldest first."""
    scripts = _scripts()
    steps = scripts.iterate_revisions(head_revision(), current or "base")
    return [script.revision for script in reversed(list(steps))]


def is_known_revision(revision: str) -> bool:
    """Whether this facepay ships the migration `revision` (a newer facepay's is unknown)."""
    return revision in {script.revision for script in _scripts().walk_revisions()}


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def sqlite_snapshot(source: Path, target: Path) -> None:
    """Copy the live SQLite database `source` to a new file `target` (0600), consistent as of
    one moment; the copy is a self-contained file (rollback journal, not WAL)."""
    create_private_file(target)
    with (
        closing(sqlite3.connect(source, timeout=30)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)  # pages=-1: every page in one step, i.e. one read transaction
        dst.execute("PRAGMA journal_mode=DELETE")


def postgres_snapshot(engine: Engine, target: Path) -> str:
    """Copy every table of the PostgreSQL database behind `engine`, as of one snapshot, into
    a new SQLite file `target` at the same revision; returns that revision."""
    options: dict[str, Any] = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as source, source.begin():
        revision = current_revision(source)
        if revision is None:
            raise InvalidInput("the database holds no facepay schema", code="not_initialised")
        with sqlite_file(target) as out:
            upgrade(out, revision)
            with out.begin() as into:
                copy_rows(source, into)
    with closing(sqlite3.connect(target)) as raw:
        raw.execute("PRAGMA journal_mode=DELETE")
    return revision


@contextmanager
def sqlite_file(path: Path) -> Iterator[Engine]:
    """An engine on the SQLite file `path` (made 0600 first), disposed afterwards."""
    create_private_file(path)
    engine = database_engine(f"sqlite:///{path}", pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()


def table_counts(connection: Connection) -> dict[str, int]:
    """Rows per table (the Alembic version table left out)."""
    meta = _reflect(connection)
    return {
        name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in sorted(meta.tables.items())
        if name != VERSION_TABLE
    }


def tables_with_data(connection: Connection, names: Collection[str]) -> list[str]:
    """Those of the tables `names` that hold rows a fresh migration did not put there."""
    meta = _reflect(connection, only=names)
    return [
        name
        for name, table in sorted(meta.tables.items())
        if name != VERSION_TABLE
        and name not in SEEDED_TABLES
        and connection.execute(select(1).select_from(table).limit(1)).first() is not None
    ]


VIEWS = ("account_totals",)
"""The views facepay's migrations create (0013): dropped with the tables they read."""


def drop_tables(connection: Connection, names: Collection[str]) -> None:
    """Drop those of the tables `names` that exist (children first), and facepay's views on
    them; other tables stay."""
    for view in VIEWS:
        connection.execute(text(f"DROP VIEW IF EXISTS {view}"))
    _reflect(connection, only=names).drop_all(bind=connection)


def copy_rows(source: Connection, target: Connection) -> dict[str, int]:
    """Replace every row of the source's tables in the target with the source's (both at the
    same revision; the target's seeded rows go too); returns the rows copied per table."""
    src = _reflect(source)
    names = set(src.tables) - {VERSION_TABLE}
    dst = _reflect(target, only=names)  # other software's tables in the target stay as they are
    if names != set(dst.tables):
        raise InvalidInput(
            "the backup's tables are not those of its revision", code="backup_mismatch"
        )
    ordered = [t for t in dst.sorted_tables if t.name in names]
    for table in reversed(ordered):
        target.execute(delete(table))
    copied = {t.name: _copy_table(source, src.tables[t.name], target, t) for t in ordered}
    if target.dialect.name == "postgresql":
        for table in ordered:
            _advance_sequence(target, table)
    return copied


def _advance_sequence(target: Connection, table: Table) -> None:
    """After rows were inserted with their ids, move a serial id's sequence past them (the
    ledger's account_deltas), so that the next insert does not take a copied id."""
    keys = list(table.primary_key.columns)
    if len(keys) != 1:
        return
    name = keys[0].name
    sequence = target.execute(
        text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": name}
    ).scalar()
    if sequence is not None:
        target.execute(
            text(
                f"SELECT setval(:s, coalesce((SELECT max({name}) FROM {table.name}), 0) + 1,"  # noqa: S608 - reflected names
                " false)"
            ),
            {"s": sequence},
        )


def _copy_table(source: Connection, src: Table, target: Connection, dst: Table) -> int:
    columns = [c.name for c in dst.columns]
    if set(columns) != {c.name for c in src.columns}:
        raise InvalidInput(
            f"the backup's table {dst.name} has other columns than its revision's",
            code="backup_mismatch",
        )
    # A row may refer to a row of its own table that comes later (a ledger hold's resolution,
    # a reversal): those references are written once every row is in.
    own = sorted({fk.parent.name for fk in dst.foreign_keys if fk.column.table is dst})
    keys = [c.name for c in dst.primary_key.columns]
    later: dict[str, list[dict[str, Any]]] = {name: [] for name in own}
    count = 0
    rows = source.execution_options(yield_per=BATCH_ROWS).execute(
        select(*(src.c[name] for name in columns))
    )
    for chunk in rows.partitions():
        batch = []
        for row in chunk:
            values = {name: portable(value) for name, value in zip(columns, row, strict=True)}
            for name in own:
                if values[name] is not None:
                    later[name].append({**{f"k_{k}": values[k] for k in keys}, "v": values[name]})
                    values[name] = None
            batch.append(values)
        target.execute(insert(dst), batch)
        count += len(batch)
    for name, params in later.items():
        if params:
            where = [dst.c[k] == bindparam(f"k_{k}") for k in keys]
            target.execute(update(dst).where(*where).values({name: bindparam("v")}), params)
    return count


def portable(value: Any) -> Any:
    """A value both databases store as the same instant or bytes: datetimes in UTC (SQLite
    keeps them without a zone, PostgreSQL may answer in the session's), BLOBs as bytes."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, memoryview):
        return value.tobytes()
    return value


def _reflect(connection: Connection, only: Collection[str] | None = None) -> MetaData:
    meta = MetaData()
    if only is None:
        meta.reflect(bind=connection)
    else:
        wanted = set(only)
        meta.reflect(bind=connection, only=lambda name, _meta: name in wanted)
    return meta
