"""Where the audit chain is kept (a port) and the one way entries get onto it (`AuditLog`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Protocol

from facepay.shared.clock import Clock
from facepay.shared.errors import Conflict
from facepay.supervision.audit import GENESIS, AuditEntry, AuditHead, chain_entry


class AuditStore(Protocol):
    """Append-only storage of audit entries.

    `append` must refuse an entry whose seq is not last.seq + 1 or whose prev_hash is not
    last.hash (raise Conflict): with a database that is a unique constraint on seq plus the check
    inside the same transaction, so two writers racing for the same seq cannot fork the chain.
    Entries are never updated or deleted through this port.
    """

    def append(self, entry: AuditEntry) -> None:
        """Store `entry` as the new last entry."""
        ...

    def last(self) -> AuditEntry | None:
        """The entry with the highest seq, or None when the log is empty."""
        ...

    def iterate(self, *, from_seq: int = 1) -> Iterator[AuditEntry]:
        """Entries with seq >= from_seq in ascending seq order."""
        ...


class InMemoryAuditStore:
    """An `AuditStore` in a list: for tests, the demo and terminals without a database."""

    def __init__(self) -> None:
        self._entries: list[AuditEntry] = []
        self._lock = threading.Lock()

    def append(self, entry: AuditEntry) -> None:
        """Store `entry` if it extends the chain, else raise Conflict."""
        with self._lock:
            head = _head(self._entries[-1] if self._entries else None)
            if entry.seq != head.seq + 1 or entry.prev_hash != head.hash:
                raise Conflict(f"audit entry {entry.seq} does not extend the chain at {head.seq}")
            self._entries.append(entry)

    def last(self) -> AuditEntry | None:
        """The newest entry, if any."""
        with self._lock:
            return self._entries[-1] if self._entries else None

    def iterate(self, *, from_seq: int = 1) -> Iterator[AuditEntry]:
        """A snapshot of entries from `from_seq` on, in seq order."""
        with self._lock:
            snapshot = self._entries[max(from_seq, 1) - 1 :]
        return iter(snapshot)


def _head(entry: AuditEntry | None) -> AuditHead:
    return GENESIS if entry is None else AuditHead(entry.seq, entry.hash)


class AuditLog:
    """Appends entries to a store, chaining each to the current last entry."""

    def __init__(self, *, store: AuditStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        # Serialises read-last-then-append within this process; across processes the store's
        # seq uniqueness refuses the loser with Conflict.
        self._lock = threading.Lock()

    def record(
        self, *, actor: str, action: str, subject: str, details: Mapping[str, object] | None = None
    ) -> AuditEntry:
        """Append one entry (`actor` did `action` to `subject`); details must be safe JSON."""
        with self._lock:
            entry = chain_entry(
                prev=_head(self._store.last()),
                at=self._clock.now(),
                actor=actor,
                action=action,
                subject=subject,
                details=details or {},
            )
            self._store.append(entry)
        return entry

    def head(self) -> AuditHead:
        """The current head of the chain (GENESIS when empty)."""
        return _head(self._store.last())
