"""The audit chains in the `audit_log` table, appended inside the caller's transaction.

(chain, seq) is the primary key, so two writers cannot both append entry n of a chain. On
PostgreSQL `last(chain)` first takes a transaction-scoped advisory lock on that chain, so
concurrent transactions of one hospital queue for its head instead of losing the race, while
other hospitals' transactions go on; SQLite's BEGIN IMMEDIATE already admits one writer at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import Connection, RowMapping, insert, select, text

from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import audit_log
from facepay.shared.errors import Conflict
from facepay.supervision.audit import GENESIS, PLATFORM_CHAIN, AuditEntry, canonical_json

_AUDIT_LOCK = 0x66_61_63_65  # "face": the first key of every audit advisory lock
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
        chain=row["chain"],
    )


class SqlAlchemyAuditStore:
    """`AuditStore` on one connection (the unit of work's)."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._locked: set[str] = set()

    def _lock(self, chain: str) -> None:
        if chain not in self._locked and self._c.dialect.name == "postgresql":
            self._c.execute(
                text("SELECT pg_advisory_xact_lock(:key, hashtext(:chain))"),
                {"key": _AUDIT_LOCK, "chain": chain},
            )
        self._locked.add(chain)

    def last(self, chain: str = PLATFORM_CHAIN) -> AuditEntry | None:
        """The newest entry of `chain` (holding its head until the transaction ends)."""
        self._lock(chain)
        query = (
            select(audit_log)
            .where(audit_log.c.chain == chain)
            .order_by(audit_log.c.seq.desc())
            .limit(1)
        )
        row = self._c.execute(query).mappings().first()
        return _entry(row) if row else None

    def append(self, entry: AuditEntry) -> None:
        """Insert `entry` if it extends its chain, else Conflict."""
        last = self.last(entry.chain)
        head = (last.seq, last.hash) if last else (GENESIS.seq, GENESIS.hash)
        if (entry.seq, entry.prev_hash) != (head[0] + 1, head[1]):
            raise Conflict(f"audit entry {entry.seq} does not extend the chain at {head[0]}")
        self._c.execute(
            insert(audit_log).values(
                chain=entry.chain,
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

    def iterate(self, *, chain: str = PLATFORM_CHAIN, from_seq: int = 1) -> Iterator[AuditEntry]:
        """Entries of `chain` from `from_seq` on, a page at a time while the connection is open."""
        seq = max(from_seq, 1)
        while True:
            query = (
                select(audit_log)
                .where(audit_log.c.chain == chain, audit_log.c.seq >= seq)
                .order_by(audit_log.c.seq)
                .limit(_PAGE)
            )
            rows = list(self._c.execute(query).mappings())
            yield from (_entry(r) for r in rows)
            if len(rows) < _PAGE:
                return
            seq = int(rows[-1]["seq"]) + 1

    def by_subject(self, chain: str, subject: str) -> list[AuditEntry]:
        """The entries of `chain` about `subject` (index `ix_audit_log_chain_subject`)."""
        query = (
            select(audit_log)
            .where(audit_log.c.chain == chain, audit_log.c.subject == subject)
            .order_by(audit_log.c.seq)
        )
        return [_entry(row) for row in self._c.execute(query).mappings()]

    def chains(self) -> list[str]:
        """Every chain holding entries, sorted."""
        query = select(audit_log.c.chain).distinct().order_by(audit_log.c.chain)
        return list(self._c.execute(query).scalars())
