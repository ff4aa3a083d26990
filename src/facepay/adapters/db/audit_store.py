"""The audit chains in the `audit_log` table, appended inside the caller's transaction.

(chain, seq) is the primary key, so two writers cannot both append entry n of a chain. On
PostgreSQL `last(chain)` first takes a transaction-scoped advisory lock on that chain, so
concurrent transactions of one hospital queue for its head instead of losing the race, while
other hospitals' transactions go on; SQLite's BEGIN IMMEDIATE already admits one writer at a time.
Nothing else in an append is shared between chains: the unique index on `hash` is only waited on
by an insert of the very same hash.

Checkpoints (`audit_checkpoints`) read every head in one statement, without any chain's lock, so
writing one never holds up a site; writers of checkpoints queue on an advisory lock of their own.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from datetime import datetime

from sqlalchemy import Connection, RowMapping, func, insert, select, text

from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import audit_checkpoints, audit_log
from facepay.shared.errors import Conflict
from facepay.supervision.audit import (
    GENESIS,
    GENESIS_HASH,
    PLATFORM_CHAIN,
    AuditEntry,
    AuditHead,
    canonical_json,
)
from facepay.supervision.audit_checkpoint import Checkpoint, heads_from_json, heads_json

_AUDIT_LOCK = 0x66_61_63_65  # "face": the first key of every audit advisory lock
_CHECKPOINT_LOCK = 0x63_6B_70_74  # "ckpt": a key no chain's lock uses
_PAGE = 1000
_INSERT_ENTRY = insert(audit_log)


def _checkpoint(row: RowMapping) -> Checkpoint:
    return Checkpoint(
        seq=int(row["seq"]),
        at=utc(row["at"]),
        heads=heads_from_json(row["heads"]),
        prev_hash=row["prev_hash"],
        key_id=row["key_id"],
        hash=row["hash"],
        signature=row["signature"],
    )


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
        # The head of each chain as this transaction read or wrote it: with the chain's lock
        # held (PostgreSQL) or the database's write lock (SQLite) nobody else can move it.
        self._heads: dict[str, tuple[int, str]] = {}

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
        found = _entry(row) if row else None
        self._heads[chain] = (found.seq, found.hash) if found else (GENESIS.seq, GENESIS.hash)
        return found

    def append(self, entry: AuditEntry) -> None:
        """Insert `entry` if it extends its chain, else Conflict."""
        if entry.chain not in self._heads:
            self.last(entry.chain)
        head = self._heads[entry.chain]
        if (entry.seq, entry.prev_hash) != (head[0] + 1, head[1]):
            raise Conflict(f"audit entry {entry.seq} does not extend the chain at {head[0]}")
        # Values as parameters of one compiled statement (cheaper than .values() per call).
        self._c.execute(
            _INSERT_ENTRY,
            {
                "chain": entry.chain,
                "seq": entry.seq,
                "at": entry.at,
                "actor": entry.actor,
                "action": entry.action,
                "subject": entry.subject,
                "details": canonical_json(entry.details).decode("utf-8"),
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            },
        )
        self._heads[entry.chain] = (entry.seq, entry.hash)

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

    def between(
        self, chain: str, since: datetime, until: datetime, actions: Collection[str]
    ) -> list[AuditEntry]:
        """The entries of `chain` in [since, until) with one of `actions`: a scan of that
        chain's rows (its primary key range), once a night."""
        query = (
            select(audit_log)
            .where(
                audit_log.c.chain == chain,
                audit_log.c.at >= since,
                audit_log.c.at < until,
                audit_log.c.action.in_(sorted(actions)),
            )
            .order_by(audit_log.c.seq)
        )
        return [_entry(row) for row in self._c.execute(query).mappings()]

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

    def heads(self) -> dict[str, AuditHead]:
        """The last entry of every chain, in one statement (one snapshot), locking nothing."""
        last = (
            select(audit_log.c.chain, func.max(audit_log.c.seq).label("seq"))
            .group_by(audit_log.c.chain)
            .subquery()
        )
        query = select(audit_log.c.chain, audit_log.c.seq, audit_log.c.hash).join(
            last, (audit_log.c.chain == last.c.chain) & (audit_log.c.seq == last.c.seq)
        )
        return {row.chain: AuditHead(int(row.seq), row.hash) for row in self._c.execute(query)}

    def entry(self, chain: str, seq: int) -> AuditEntry | None:
        """Entry `seq` of `chain`."""
        query = select(audit_log).where(audit_log.c.chain == chain, audit_log.c.seq == seq)
        row = self._c.execute(query).mappings().first()
        return _entry(row) if row else None

    def checkpoints(self) -> Iterator[Checkpoint]:
        """Every checkpoint in seq order, a page at a time."""
        seq = 0
        while True:
            query = (
                select(audit_checkpoints)
                .where(audit_checkpoints.c.seq > seq)
                .order_by(audit_checkpoints.c.seq)
                .limit(_PAGE)
            )
            rows = list(self._c.execute(query).mappings())
            yield from (_checkpoint(r) for r in rows)
            if len(rows) < _PAGE:
                return
            seq = int(rows[-1]["seq"])

    def last_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint; on PostgreSQL the checkpoint writers' lock is taken first."""
        if self._c.dialect.name == "postgresql":
            self._c.execute(
                text("SELECT pg_advisory_xact_lock(:key, 0)"), {"key": _CHECKPOINT_LOCK}
            )
        query = select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1)
        row = self._c.execute(query).mappings().first()
        return _checkpoint(row) if row else None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Insert `checkpoint` if it follows the last one, else Conflict."""
        last = self.last_checkpoint()
        expected = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
        if (checkpoint.seq, checkpoint.prev_hash) != expected:
            raise Conflict(f"checkpoint {checkpoint.seq} does not follow {expected[0] - 1}")
        self._c.execute(
            insert(audit_checkpoints).values(
                seq=checkpoint.seq,
                at=checkpoint.at,
                heads=heads_json(checkpoint.heads),
                prev_hash=checkpoint.prev_hash,
                hash=checkpoint.hash,
                key_id=checkpoint.key_id,
                signature=checkpoint.signature,
            )
        )
