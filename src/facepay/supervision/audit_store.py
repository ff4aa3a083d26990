"""Where the audit chain is kept (a port) and the one way entries get onto it (`AuditLog`)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from typing import Protocol

from facepay.shared.clock import Clock
from facepay.shared.errors import Conflict
from facepay.supervision.audit import (
    GENESIS,
    PLATFORM_CHAIN,
    AuditEntry,
    AuditHead,
    chain_entry,
    chain_of,
)
from facepay.supervision.audit_checkpoint import Checkpoint


class AuditStore(Protocol):
    """Append-only storage of audit chains (one per hospital, one for the platform).

    `append` must refuse an entry whose seq is not last.seq + 1 or whose prev_hash is not
    last.hash of its chain (raise Conflict): with a database that is a unique constraint on
    (chain, seq) plus the check inside the same transaction, so two writers racing for the same
    seq cannot fork a chain. Entries are never updated or deleted through this port.
    """

    def append(self, entry: AuditEntry) -> None:
        """Store `entry` as the new last entry of `entry.chain`."""
        ...

    def last(self, chain: str = PLATFORM_CHAIN) -> AuditEntry | None:
        """The entry of `chain` with the highest seq, or None when that chain is empty."""
        ...

    def iterate(self, *, chain: str = PLATFORM_CHAIN, from_seq: int = 1) -> Iterator[AuditEntry]:
        """Entries of `chain` with seq >= from_seq in ascending seq order."""
        ...

    def between(
        self, chain: str, since: datetime, until: datetime, actions: Collection[str]
    ) -> list[AuditEntry]:
        """The entries of `chain` recorded in [since, until) whose action is one of `actions`,
        in seq order (a day's payments and refunds, for the nightly reconciliation)."""
        ...

    def chains(self) -> list[str]:
        """Every chain holding at least one entry, sorted."""
        ...

    def by_subject(self, chain: str, subject: str) -> list[AuditEntry]:
        """The entries of `chain` about `subject`, in seq order (indexed in the database)."""
        ...

    def heads(self) -> dict[str, AuditHead]:
        """The last entry of every chain, read at one moment, taking no chain's lock."""
        ...

    def entry(self, chain: str, seq: int) -> AuditEntry | None:
        """Entry `seq` of `chain`, if it is stored."""
        ...

    def checkpoints(self) -> Iterator[Checkpoint]:
        """The stored checkpoints in seq order."""
        ...

    def last_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint (holding the checkpoint chain's end until the transaction
        ends, like `last` for an audit chain)."""
        ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store `checkpoint` if it follows the last one (seq and prev_hash), else Conflict."""
        ...


class InMemoryAuditStore:
    """An `AuditStore` in lists: for tests, the demo and terminals without a database."""

    def __init__(self) -> None:
        self._chains: dict[str, list[AuditEntry]] = {}
        self._checkpoints: list[Checkpoint] = []
        self._lock = threading.Lock()

    def append(self, entry: AuditEntry) -> None:
        """Store `entry` if it extends its chain, else raise Conflict."""
        with self._lock:
            entries = self._chains.setdefault(entry.chain, [])
            head = _head(entries[-1] if entries else None)
            if entry.seq != head.seq + 1 or entry.prev_hash != head.hash:
                raise Conflict(f"audit entry {entry.seq} does not extend the chain at {head.seq}")
            entries.append(entry)

    def last(self, chain: str = PLATFORM_CHAIN) -> AuditEntry | None:
        """The newest entry of `chain`, if any."""
        with self._lock:
            entries = self._chains.get(chain)
            return entries[-1] if entries else None

    def iterate(self, *, chain: str = PLATFORM_CHAIN, from_seq: int = 1) -> Iterator[AuditEntry]:
        """A snapshot of entries of `chain` from `from_seq` on, in seq order."""
        with self._lock:
            snapshot = self._chains.get(chain, [])[max(from_seq, 1) - 1 :]
        return iter(snapshot)

    def between(
        self, chain: str, since: datetime, until: datetime, actions: Collection[str]
    ) -> list[AuditEntry]:
        """The entries of `chain` in [since, until) with one of `actions`."""
        with self._lock:
            entries = list(self._chains.get(chain, []))
        return [e for e in entries if since <= e.at < until and e.action in actions]

    def chains(self) -> list[str]:
        """The chains holding entries."""
        with self._lock:
            return sorted(name for name, entries in self._chains.items() if entries)

    def by_subject(self, chain: str, subject: str) -> list[AuditEntry]:
        """The entries of `chain` about `subject`."""
        with self._lock:
            return [e for e in self._chains.get(chain, []) if e.subject == subject]

    def heads(self) -> dict[str, AuditHead]:
        """The head of every chain holding entries."""
        with self._lock:
            return {name: _head(es[-1]) for name, es in self._chains.items() if es}

    def entry(self, chain: str, seq: int) -> AuditEntry | None:
        """Entry `seq` of `chain`."""
        with self._lock:
            entries = self._chains.get(chain, [])
            return entries[seq - 1] if 1 <= seq <= len(entries) else None

    def checkpoints(self) -> Iterator[Checkpoint]:
        """A snapshot of the checkpoints."""
        with self._lock:
            return iter(list(self._checkpoints))

    def last_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint."""
        with self._lock:
            return self._checkpoints[-1] if self._checkpoints else None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Append `checkpoint` if it follows the last one."""
        with self._lock:
            last = self._checkpoints[-1] if self._checkpoints else None
            expected = (last.seq + 1, last.hash) if last else (1, GENESIS.hash)
            if (checkpoint.seq, checkpoint.prev_hash) != expected:
                raise Conflict(f"checkpoint {checkpoint.seq} does not follow {expected[0] - 1}")
            self._checkpoints.append(checkpoint)


def _head(entry: AuditEntry | None) -> AuditHead:
    return GENESIS if entry is None else AuditHead(entry.seq, entry.hash)


class AuditLog:
    """Appends entries to a store, chaining each to the current last entry of its chain."""

    def __init__(self, *, store: AuditStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        # Serialises read-last-then-append within this process; across processes the store's
        # seq uniqueness refuses the loser with Conflict.
        self._lock = threading.Lock()

    def record(
        self, *, actor: str, action: str, subject: str, details: Mapping[str, object] | None = None
    ) -> AuditEntry:
        """Append one entry (`actor` did `action` to `subject`) to the chain of the hospital its
        details name (`details["hospital"]`), else to the platform's; details must be safe JSON."""
        with self._lock:
            entry = chain_entry(
                prev=_head(self._store.last(chain_of(details or {}))),
                at=self._clock.now(),
                actor=actor,
                action=action,
                subject=subject,
                details=details or {},
            )
            self._store.append(entry)
        return entry

    def head(self, chain: str = PLATFORM_CHAIN) -> AuditHead:
        """The current head of `chain` (GENESIS when empty)."""
        return _head(self._store.last(chain))
