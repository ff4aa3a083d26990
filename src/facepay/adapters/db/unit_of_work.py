"""`SqlAlchemyUnitOfWork`: one connection, one transaction, the repositories that share it."""

from __future__ import annotations

import threading
import weakref
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from facepay.adapters.db.audit_store import SqlAlchemyAuditStore
from facepay.adapters.db.bill_repository import (
    SqlAlchemyAlertRepository,
    SqlAlchemyBillRepository,
    SqlAlchemyTenantRepository,
)
from facepay.adapters.db.engine import SQLITE_BUSY_TIMEOUT_MS, is_sqlite
from facepay.adapters.db.identity_repository import (
    SqlAlchemyConsentRepository,
    SqlAlchemyIdentificationRepository,
    SqlAlchemyPersonRepository,
    SqlAlchemyTemplateRepository,
)
from facepay.adapters.db.ledger_repository import SqlAlchemyLedgerRepository
from facepay.adapters.db.settlement_repository import (
    SqlAlchemyAccumulatorRepository,
    SqlAlchemySettlementRepository,
)
from facepay.services.ports import StorageBusy

# PostgreSQL SQLSTATEs that mean "try again": serialization failure, deadlock, lock timeout,
# statement timeout.
_RETRYABLE = {"40001", "40P01", "55P03", "57014"}


class SqlAlchemyUnitOfWork:
    """`with uow: ...; uow.commit()` - anything not committed is rolled back on exit.

    `lock_timeout_ms` bounds how long a statement waits for a lock (PostgreSQL lock_timeout,
    SQLite busy_timeout); when it runs out the unit of work raises `StorageBusy`. On SQLite the
    units of work of one engine also queue on a lock in this process, so one nested inside
    another in the same thread waits for it and fails with `StorageBusy`.
    """

    ledger: SqlAlchemyLedgerRepository
    settlements: SqlAlchemySettlementRepository
    accumulators: SqlAlchemyAccumulatorRepository
    people: SqlAlchemyPersonRepository
    templates: SqlAlchemyTemplateRepository
    consents: SqlAlchemyConsentRepository
    identifications: SqlAlchemyIdentificationRepository
    bills: SqlAlchemyBillRepository
    alerts: SqlAlchemyAlertRepository
    tenants: SqlAlchemyTenantRepository
    audit: SqlAlchemyAuditStore

    def __init__(self, engine: Engine, *, lock_timeout_ms: int | None = None) -> None:
        self._engine = engine
        self._lock_timeout_ms = lock_timeout_ms
        self._connection: Connection | None = None
        self._transaction: RootTransaction | None = None
        self._gate: threading.Lock | None = None

    def __enter__(self) -> Self:
        gate = _sqlite_gate(self._engine)
        if gate is not None:
            wait_ms = self._lock_timeout_ms or SQLITE_BUSY_TIMEOUT_MS
            if not gate.acquire(timeout=wait_ms / 1000):
                raise StorageBusy("the database is busy; retry with the same idempotency key")
        self._gate = gate
        try:
            self._enter()
        except BaseException:
            self._release_gate()
            raise
        return self

    def _enter(self) -> None:
        connection = self._engine.connect()
        try:
            if self._lock_timeout_ms is not None and is_sqlite(self._engine):
                # Must be set before BEGIN IMMEDIATE, which is where SQLite waits.
                raw = connection.connection.driver_connection
                assert raw is not None
                raw.execute(f"PRAGMA busy_timeout={int(self._lock_timeout_ms)}")
            self._transaction = connection.begin()
            if self._lock_timeout_ms is not None and not is_sqlite(self._engine):
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(self._lock_timeout_ms)}")
        except DBAPIError as error:
            self._close(connection)
            raise _translated(error) from error
        self._connection = connection
        self.ledger = SqlAlchemyLedgerRepository(connection)
        self.settlements = SqlAlchemySettlementRepository(connection)
        self.accumulators = SqlAlchemyAccumulatorRepository(connection)
        self.people = SqlAlchemyPersonRepository(connection)
        self.templates = SqlAlchemyTemplateRepository(connection)
        self.consents = SqlAlchemyConsentRepository(connection)
        self.identifications = SqlAlchemyIdentificationRepository(connection)
        self.bills = SqlAlchemyBillRepository(connection)
        self.alerts = SqlAlchemyAlertRepository(connection)
        self.tenants = SqlAlchemyTenantRepository(connection)
        self.audit = SqlAlchemyAuditStore(connection)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        try:
            if connection is not None:
                try:
                    if self._transaction is not None and self._transaction.is_active:
                        self._transaction.rollback()
                finally:
                    self._close(connection)
        finally:
            self._release_gate()
        if isinstance(exc, DBAPIError) and (translated := _translated(exc)) is not exc:
            raise translated from exc

    def commit(self) -> None:
        """Commit the transaction."""
        assert self._transaction is not None
        try:
            self._transaction.commit()
        except DBAPIError as error:
            raise _translated(error) from error

    def rollback(self) -> None:
        """Roll the transaction back."""
        assert self._transaction is not None
        self._transaction.rollback()

    def _release_gate(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.release()

    def _close(self, connection: Connection) -> None:
        if self._lock_timeout_ms is not None and is_sqlite(self._engine):
            raw = connection.connection.driver_connection
            if raw is not None:
                raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        connection.close()


_GATES: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()


def _sqlite_gate(engine: Engine) -> threading.Lock | None:
    """One writer per SQLite engine in this process. SQLite admits one writer anyway; queueing
    threads on a lock hands over at once, where its busy handler would sleep and poll."""
    if not is_sqlite(engine):
        return None
    with _GATES_LOCK:
        return _GATES.setdefault(engine, threading.Lock())


def _translated(error: DBAPIError) -> Exception:
    """StorageBusy for waits that ran out and races lost on a unique key; other errors as is."""
    code = getattr(error.orig, "sqlstate", None)
    text = str(error.orig).lower()
    if code in _RETRYABLE or (isinstance(error, OperationalError) and "database is locked" in text):
        return StorageBusy("the database is busy; retry with the same idempotency key")
    if isinstance(error, IntegrityError) and (code == "23505" or "unique constraint" in text):
        return StorageBusy("a concurrent request with the same key won; retry to replay it")
    return error
