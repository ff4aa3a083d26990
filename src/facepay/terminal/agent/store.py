"""The agent's own SQLite file: outbox, offline package, notices, counters. One writer.

Everything the agent must not lose lives here, in `agent.sqlite3` inside `--data DIR` (folder
0700, file 0600: it holds signed vouchers naming patients and the sealed library). The file runs
in WAL mode with `synchronous=FULL`, and every method that writes commits before it returns, so
what a method has returned survives kill -9 and power loss: a voucher is on disk before the
screen says paid.

A voucher's counter and `prev_hash` advance in the same transaction (`BEGIN IMMEDIATE`) that
inserts it, so no crash can give two vouchers one counter or leave the chain pointing at a
voucher that was never stored. A full disk (SQLITE_FULL, ENOSPC) rolls the transaction back and
raises `StoreFull`: the payment is refused, nothing is half-written.

The library is kept as the sealed bytes received; it is opened into memory only (`package`).
The limits are kept as the signed document received and verified at every load.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facepay.shared.errors import ConfigurationError, Unavailable
from facepay.terminal.protocol import GENESIS

FILE_NAME = "agent.sqlite3"
FOLDER_MODE = 0o700
FILE_MODE = 0o600
SCHEMA_VERSION = "1"
FINAL = ("posted", "quarantined")
"""Server statuses after which a voucher is synced (`held` is sent again later)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    counter INTEGER PRIMARY KEY,
    voucher_id TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    bill_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    cash_fen INTEGER NOT NULL,
    signed TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'held', 'synced')),
    result TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    synced_seq INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_unsynced ON outbox (status, counter);
CREATE TABLE IF NOT EXISTS offline_deltas (
    counter INTEGER PRIMARY KEY REFERENCES outbox (counter),
    person_id TEXT NOT NULL,
    bill_id TEXT NOT NULL,
    library_version TEXT NOT NULL,
    account_fen INTEGER NOT NULL,
    accumulators TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS package (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    limits TEXT NOT NULL,
    library_version TEXT,
    library BLOB,
    fetched_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notices (
    voucher_id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('arrears', 'refund_due')),
    amount_fen INTEGER NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notices_person ON notices (person_id);
CREATE TABLE IF NOT EXISTS attempts (
    idempotency_key TEXT PRIMARY KEY,
    bill_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sending', 'paid', 'refused')),
    result TEXT,
    created_at TEXT NOT NULL
);
"""


class StoreFull(Unavailable):
    """The terminal's disk is full: nothing was written, the payment is refused."""

    code = "terminal_storage_full"


@dataclass(frozen=True)
class OutboxRow:
    """One stored voucher."""

    counter: int
    voucher_id: str
    idempotency_key: str
    bill_id: str
    person_id: str
    amount_fen: int
    cash_fen: int
    signed: dict[str, str]
    hash: str
    created_at: str
    status: str
    result: dict[str, Any] | None
    attempts: int


@dataclass(frozen=True)
class NewVoucher:
    """What `append_voucher`'s builder returns: the signed document, its hash and its fields."""

    signed: dict[str, str]
    hash: str
    voucher_id: str
    created_at: str
    bill_id: str
    person_id: str
    amount_fen: int
    cash_fen: int
    library_version: str
    account_fen: int
    accumulators: dict[str, int]


@dataclass(frozen=True)
class StoredPackage:
    """The offline package as received: signed limits, sealed library, when it was fetched."""

    limits: dict[str, str]
    library_version: str | None
    library: bytes | None
    fetched_at: datetime


@dataclass(frozen=True)
class Notice:
    """A difference the server found (arrears: the patient owes; refund_due: owed to them)."""

    voucher_id: str
    person_id: str
    kind: str
    amount_fen: int
    message: str
    created_at: str


@dataclass(frozen=True)
class Attempt:
    """An online payment attempt and its idempotency key, stored before the first send."""

    idempotency_key: str
    bill_id: str
    state: str
    result: dict[str, Any] | None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def check_private(folder: Path) -> None:
    """Refuse a data folder, or store file, that the group or others can use."""
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"the terminal data folder {folder} is open to other users (mode {mode:o}); run "
            f"`chmod 700 {folder}` (it holds signed payments and the sealed face library)",
            code="terminal_data_open",
        )
    path = folder / FILE_NAME
    if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise ConfigurationError(
            f"{path} is readable by other users; run `chmod 600 {path}`",
            code="terminal_data_open",
        )


def prepare_folder(folder: Path, *, create: bool) -> Path:
    """The data folder, created 0700 when `create`; a missing or open one is refused."""
    if not folder.exists():
        if not create:
            raise ConfigurationError(
                f"no terminal data folder at {folder} (`facepay terminal run --data` makes it)",
                code="terminal_data_missing",
            )
        folder.mkdir(parents=True, mode=FOLDER_MODE)
        os.chmod(folder, FOLDER_MODE)
    if not folder.is_dir():
        raise ConfigurationError(f"{folder} is not a folder", code="terminal_data_missing")
    check_private(folder)
    return folder


REFUSED_WRITES = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
"""No space, a file-size limit (RLIMIT_FSIZE), a quota: the disk takes no more."""


def _is_full(error: BaseException) -> bool:
    """Whether a write failed because the storage takes no more: SQLITE_FULL (ENOSPC), or an
    I/O error on write (SQLite reports EFBIG and EDQUOT as SQLITE_IOERR_WRITE, not FULL)."""
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)
        return (
            code == sqlite3.SQLITE_FULL
            or (code is not None and code & 0xFF == sqlite3.SQLITE_IOERR)
            or "full" in str(error)
        )
    return isinstance(error, OSError) and error.errno in REFUSED_WRITES


class AgentStore:
    """The agent's SQLite file; every method is one transaction, committed before it returns."""

    def __init__(self, folder: Path, *, create: bool = True) -> None:
        self.folder = prepare_folder(folder, create=create)
        self.path = self.folder / FILE_NAME
        if not self.path.exists():
            if not create:
                raise ConfigurationError(
                    f"{self.folder} holds no terminal store ({FILE_NAME}): is it the folder "
                    "`facepay terminal run --data` was given?",
                    code="terminal_data_missing",
                )
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            os.fchmod(fd, FILE_MODE)
            os.close(fd)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise ConfigurationError(
                f"cannot open {self.path}: {error}", code="terminal_data_unreadable"
            ) from None
        try:
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            if create:
                with self._write() as db:
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        db.execute(statement)
                    db.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                        (SCHEMA_VERSION,),
                    )
            schema = self.meta("schema")
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise ConfigurationError(
                f"{self.path} is not a terminal store: {error}", code="terminal_data_unreadable"
            ) from None
        if schema != SCHEMA_VERSION:
            self._db.close()
            raise ConfigurationError(
                f"{self.path} is a terminal store of schema {schema}, not {SCHEMA_VERSION}",
                code="terminal_data_unreadable",
            )

    def close(self) -> None:
        """Close the file (what was returned is on disk already)."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed (and fsynced) on exit, rolled back on any error."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except (sqlite3.OperationalError, OSError) as error:
                if _is_full(error):
                    raise StoreFull("the terminal's disk is full") from None
                raise
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if _is_full(error):
                    raise StoreFull(
                        "the terminal's disk is full: nothing was recorded, take the payment "
                        "at the window"
                    ) from None
                raise

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._db.execute(sql, args)
            cursor.row_factory = sqlite3.Row
            return list(cursor.fetchall())

    # -- meta ------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        """A stored value (terminal id, pinned server key, clock offset, last error...)."""
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a value durably."""
        with self._write() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def pin(self, key: str, value: str) -> str:
        """Store `value` under `key` unless a value is there already; the stored one."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    def chain_head(self) -> tuple[int, str]:
        """The last voucher's counter and hash (0 and GENESIS before the first)."""
        return int(self.meta("counter") or 0), self.meta("last_hash") or GENESIS

    # -- outbox ----------------------------------------------------------------------------

    def append_voucher(
        self, *, idempotency_key: str, build: Callable[[int, str], NewVoucher]
    ) -> OutboxRow:
        """Sign and store the next voucher in one transaction: `build(counter, prev_hash)`
        makes it; the counter and last hash advance with the insert. A key used already
        returns its voucher unchanged (a repeat of the request, not a second payment)."""
        with self._write() as db:
            existing = self._outbox_where(db, "idempotency_key = ?", (idempotency_key,))
            if existing:
                return existing[0]
            counter, prev_hash = self._head(db)
            made = build(counter + 1, prev_hash)
            db.execute(
                "INSERT INTO outbox (counter, voucher_id, idempotency_key, bill_id, person_id, "
                "amount_fen, cash_fen, signed, hash, created_at, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                (
                    counter + 1,
                    made.voucher_id,
                    idempotency_key,
                    made.bill_id,
                    made.person_id,
                    made.amount_fen,
                    made.cash_fen,
                    json.dumps(made.signed, sort_keys=True),
                    made.hash,
                    made.created_at,
                ),
            )
            db.execute(
                "INSERT INTO offline_deltas (counter, person_id, bill_id, library_version, "
                "account_fen, accumulators) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    counter + 1,
                    made.person_id,
                    made.bill_id,
                    made.library_version,
                    made.account_fen,
                    json.dumps(made.accumulators, sort_keys=True),
                ),
            )
            for key, value in (("counter", str(counter + 1)), ("last_hash", made.hash)):
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
            return self._outbox_where(db, "counter = ?", (counter + 1,))[0]

    @staticmethod
    def _head(db: sqlite3.Connection) -> tuple[int, str]:
        rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('counter', 'last_hash')"))
        return int(rows.get("counter", 0)), str(rows.get("last_hash", GENESIS))

    def _outbox_where(
        self, db: sqlite3.Connection, where: str, args: tuple[Any, ...], limit: int = -1
    ) -> list[OutboxRow]:
        sql = f"SELECT * FROM outbox WHERE {where} ORDER BY counter LIMIT ?"  # noqa: S608 - fixed clauses
        cursor = db.execute(sql, (*args, limit))
        cursor.row_factory = sqlite3.Row
        return [_outbox_row(row) for row in cursor.fetchall()]

    def voucher_by_key(self, idempotency_key: str) -> OutboxRow | None:
        """The voucher written for this idempotency key, if any."""
        with self._lock:
            rows = self._outbox_where(self._db, "idempotency_key = ?", (idempotency_key,))
        return rows[0] if rows else None

    def vouchers(self) -> list[OutboxRow]:
        """Every stored voucher in counter order."""
        with self._lock:
            return self._outbox_where(self._db, "1 = 1", ())

    def unsynced(self, limit: int) -> list[OutboxRow]:
        """The oldest `limit` vouchers the server has not settled, in counter order."""
        with self._lock:
            return self._outbox_where(self._db, "status != 'synced'", (), limit)

    def record_results(self, results: list[dict[str, Any]]) -> None:
        """Store the server's answers: posted / quarantined vouchers become synced, held ones
        stay to be sent again; each difference becomes a notice for the patient's next visit."""
        with self._write() as db:
            seq = int(
                (db.execute("SELECT value FROM meta WHERE key = 'sync_seq'").fetchone() or [0])[0]
            )
            seq += 1
            for result in results:
                final = result.get("status") in FINAL
                db.execute(
                    "UPDATE outbox SET status = ?, result = ?, attempts = attempts + 1, "
                    "synced_seq = ? WHERE voucher_id = ? AND status != 'synced'",
                    (
                        "synced" if final else "held",
                        json.dumps(result, sort_keys=True),
                        seq if final else None,
                        result.get("voucher_id"),
                    ),
                )
                difference = result.get("difference") or {}
                kind, amount = difference.get("kind"), difference.get("amount_fen")
                person = result.get("person_id")
                if final and kind in ("arrears", "refund_due") and person and amount:
                    db.execute(
                        "INSERT OR IGNORE INTO notices (voucher_id, person_id, kind, amount_fen, "
                        "message, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            result["voucher_id"],
                            person,
                            kind,
                            int(amount),
                            str(result.get("message") or ""),
                            _now(),
                        ),
                    )
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('sync_seq', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(seq),),
            )

    def outbox_counts(self) -> dict[str, int]:
        """How many vouchers are pending, held and synced."""
        rows = self._read("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        counts = {"pending": 0, "held": 0, "synced": 0}
        counts.update({str(r["status"]): int(r["n"]) for r in rows})
        return counts

    def oldest_unsynced(self) -> datetime | None:
        """When the oldest voucher the server has not settled was made."""
        rows = self._read(
            "SELECT created_at FROM outbox WHERE status != 'synced' ORDER BY counter LIMIT 1"
        )
        return datetime.fromisoformat(rows[0]["created_at"]) if rows else None

    def unsynced_totals(self) -> tuple[int, int, dict[str, int]]:
        """Unsynced vouchers (offline payments in a row the server has not settled yet):
        their total fen, their number, and their number per person."""
        rows = self._read(
            "SELECT person_id, amount_fen FROM outbox WHERE status != 'synced' ORDER BY counter"
        )
        per_person: dict[str, int] = {}
        for row in rows:
            per_person[row["person_id"]] = per_person.get(row["person_id"], 0) + 1
        return sum(int(r["amount_fen"]) for r in rows), len(rows), per_person

    # -- the offline package ---------------------------------------------------------------

    def sync_seq(self) -> int:
        """A number that grows with every stored batch of server answers."""
        return int(self.meta("sync_seq") or 0)

    def save_package(
        self,
        *,
        limits: dict[str, str],
        library_version: str | None,
        library: bytes | None,
        fetched_at: datetime,
        synced_up_to: int,
    ) -> None:
        """Keep a verified package (replacing the last), and forget the offline deltas of
        vouchers the server had settled before it was asked (`synced_up_to`): the library's
        accumulators and balances hold those payments already."""
        with self._write() as db:
            db.execute(
                "INSERT INTO package (id, limits, library_version, library, fetched_at) "
                "VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET limits = excluded.limits,"
                " library_version = excluded.library_version, library = excluded.library, "
                "fetched_at = excluded.fetched_at",
                (json.dumps(limits, sort_keys=True), library_version, library,
                 fetched_at.isoformat()),
            )  # fmt: skip
            db.execute(
                "DELETE FROM offline_deltas WHERE counter IN (SELECT counter FROM outbox "
                "WHERE status = 'synced' AND synced_seq <= ?)",
                (synced_up_to,),
            )

    def package(self) -> StoredPackage | None:
        """The last package kept, as received (verify it before use)."""
        rows = self._read("SELECT * FROM package WHERE id = 1")
        if not rows:
            return None
        row = rows[0]
        return StoredPackage(
            limits=json.loads(row["limits"]),
            library_version=row["library_version"],
            library=bytes(row["library"]) if row["library"] is not None else None,
            fetched_at=datetime.fromisoformat(row["fetched_at"]),
        )

    def offline_taken(self, person_id: str) -> tuple[int, list[dict[str, int]], set[str]]:
        """What this terminal paid offline for the person that the library does not show yet:
        fen from the personal account, each payment's accumulator deltas (with their year),
        the bills paid."""
        rows = self._read(
            "SELECT bill_id, account_fen, accumulators FROM offline_deltas WHERE person_id = ?",
            (person_id,),
        )
        account = sum(int(row["account_fen"]) for row in rows)
        deltas = [json.loads(row["accumulators"]) for row in rows]
        return account, deltas, {str(r["bill_id"]) for r in rows}

    # -- notices ---------------------------------------------------------------------------

    def notices(self, person_id: str) -> list[Notice]:
        """The differences to show the patient at their next visit, oldest first."""
        rows = self._read(
            "SELECT * FROM notices WHERE person_id = ? ORDER BY created_at, voucher_id",
            (person_id,),
        )
        return [Notice(**{k: row[k] for k in row.keys()}) for row in rows]  # noqa: SIM118 - sqlite3.Row

    # -- online attempts -------------------------------------------------------------------

    def attempt(self, idempotency_key: str) -> Attempt | None:
        """The stored attempt of this key."""
        rows = self._read("SELECT * FROM attempts WHERE idempotency_key = ?", (idempotency_key,))
        if not rows:
            return None
        row = rows[0]
        result = json.loads(row["result"]) if row["result"] else None
        return Attempt(row["idempotency_key"], row["bill_id"], row["state"], result)

    def begin_attempt(self, idempotency_key: str, bill_id: str) -> Attempt:
        """Store the key before the first send (a retry finds it and reuses it)."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO attempts (idempotency_key, bill_id, state, created_at) "
                "VALUES (?, ?, 'sending', ?)",
                (idempotency_key, bill_id, _now()),
            )
        found = self.attempt(idempotency_key)
        assert found is not None
        return found

    def finish_attempt(self, idempotency_key: str, state: str, result: dict[str, Any]) -> None:
        """Record how an online attempt ended (`paid` or `refused`); once a bill is paid, its
        other attempts of unknown outcome are settled too (the server refused any repeat)."""
        with self._write() as db:
            db.execute(
                "UPDATE attempts SET state = ?, result = ? WHERE idempotency_key = ?",
                (state, json.dumps(result, sort_keys=True), idempotency_key),
            )
            if state == "paid":
                db.execute(
                    "UPDATE attempts SET state = 'refused', result = ? WHERE state = 'sending' "
                    "AND bill_id = (SELECT bill_id FROM attempts WHERE idempotency_key = ?)",
                    (json.dumps({"superseded_by": idempotency_key}), idempotency_key),
                )

    def sending_bills(self) -> set[str]:
        """Bills with an online attempt whose outcome is unknown (sent, no answer)."""
        return {
            str(r["bill_id"])
            for r in self._read("SELECT bill_id FROM attempts WHERE state = 'sending'")
        }


def _outbox_row(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        counter=int(row["counter"]),
        voucher_id=row["voucher_id"],
        idempotency_key=row["idempotency_key"],
        bill_id=row["bill_id"],
        person_id=row["person_id"],
        amount_fen=int(row["amount_fen"]),
        cash_fen=int(row["cash_fen"]),
        signed=json.loads(row["signed"]),
        hash=row["hash"],
        created_at=row["created_at"],
        status=row["status"],
        result=json.loads(row["result"]) if row["result"] else None,
        attempts=int(row["attempts"]),
    )
