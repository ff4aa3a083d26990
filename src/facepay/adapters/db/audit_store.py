"""The audit chain in the `audit_log` table, appended inside the caller's transaction.

`seq` is the primary key, so two writers cannot both append entry n. On PostgreSQL `last()` first
takes a transaction-scoped advisory lock, so concurrent transactions queue for the head instead of
losing the race; SQLite's BEGIN IMMEDIATE already admits one writer at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import Connection, RowMapping, insert, select, text

from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import audit_log
from facepay.shared.errors import Conflict
from facepay.supervision.audit import GENESIS, AuditEntry, canonical_json

_AUDIT_LOCK = 0x66_61_63_65_61_75_64  # "faceaud": any constant shared by every writer
_PAGE = 1000


def _entry(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        seq=int(row["seq"]),
        at=utc(row["at"]),
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        details=json.loads(row["details"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


class SqlAlchemyAuditStore:
    """`AuditStore` on one connection (the unit of work's)."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._locked = False

    def _lock(self) -> None:
        if not self._locked and self._c.dialect.name == "postgresql":
            self._c.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK})
        self._locked = True

    def last(self) -> AuditEntry | None:
        """The newest entry (holding the head until the transaction ends)."""
        self._lock()
        query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)
        row = self._c.execute(query).mappings().first()
        return _entry(row) if row else None

    def append(self, entry: AuditEntry) -> None:
        """Insert `entry` if it extends the chain, else Conflict."""
        last = self.last()
        head = (last.seq, last.hash) if last else (GENESIS.seq, GENESIS.hash)
        if (entry.seq, entry.prev_hash) != (head[0] + 1, head[1]):
            raise Conflict(f"audit entry {entry.seq} does not extend the chain at {head[0]}")
        self._c.execute(
            insert(audit_log).values(
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                subject=entry.subject,
                details=canonical_json(entry.details).decode("utf-8"),
                prev_hash=entry.prev_hash,
                hash=entry.hash,
            )
        )

    def iterate(self, *, from_seq: int = 1) -> Iterator[AuditEntry]:
        """Entries from `from_seq` on, read a page at a time while the connection is open."""
        seq = max(from_seq, 1)
        while True:
            query = (
                select(audit_log)
                .where(audit_log.c.seq >= seq)
                .order_by(audit_log.c.seq)
                .limit(_PAGE)
            )
            rows = list(self._c.execute(query).mappings())
            yield from (_entry(r) for r in rows)
            if len(rows) < _PAGE:
                return
            seq = int(rows[-1]["seq"]) + 1
