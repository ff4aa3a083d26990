"""`SqlAlchemyUnitOfWork`: one connection, one transaction, the repositories that share it."""

from __future__ import annotations

import contextlib
import threading
import weakref
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, RootTransaction

from facepay.adapters.db.appointments_repository import SqlAlchemyAppointmentRepository
from facepay.adapters.db.audit_store import SqlAlchemyAuditStore
from facepay.adapters.db.bill_repository import (
    SqlAlchemyAlertRepository,
    SqlAlchemyBillRepository,
    SqlAlchemyTenantRepository,
)
from facepay.adapters.db.emergency_repository import SqlAlchemyEmergencyRepository
from facepay.adapters.db.engine import SQLITE_BUSY_TIMEOUT_MS, is_sqlite
from facepay.adapters.db.errors import DRIVER_ERRORS, translate
from facepay.adapters.db.hl7_repository import SqlAlchemyHisMessageRepository
from facepay.adapters.db.identity_repository import (
    SqlAlchemyConsentRepository,
    SqlAlchemyIdentificationRepository,
    SqlAlchemyPersonRepository,
    SqlAlchemyTemplateRepository,
)
from facepay.adapters.db.inpatient_repository import SqlAlchemyInpatientRepository
from facepay.adapters.db.ledger_repository import SqlAlchemyLedgerRepository
from facepay.adapters.db.offline_repository import SqlAlchemyOfflineRepository
from facepay.adapters.db.orders_repository import SqlAlchemyOrderRepository
from facepay.adapters.db.proxy_repository import SqlAlchemyProxyRepository
from facepay.adapters.db.settlement_repository import (
    SqlAlchemyAccumulatorRepository,
    SqlAlchemySettlementRepository,
)
from facepay.adapters.db.shared_state import SqlAlchemySharedStateRepository
from facepay.adapters.db.subscription_repository import SqlAlchemySubscriptionRepository
from facepay.services.ports import StorageBusy


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
    inpatient: SqlAlchemyInpatientRepository
    audit: SqlAlchemyAuditStore
    emergency: SqlAlchemyEmergencyRepository
    proxies: SqlAlchemyProxyRepository
    orders: SqlAlchemyOrderRepository
    appointments: SqlAlchemyAppointmentRepository
    offline: SqlAlchemyOfflineRepository
    hl7: SqlAlchemyHisMessageRepository
    subscriptions: SqlAlchemySubscriptionRepository

    def __init__(self, engine: Engine, *, lock_timeout_ms: int | None = None) -> None:
        self._engine = engine
        self._lock_timeout_ms = lock_timeout_ms
        self._connection: Connection | None = None
        self._transaction: RootTransaction | None = None
        self._gate: threading.Lock | None = None

    @property
    def engine(self) -> Engine:
        """The engine this unit of work connects with (adapters that keep their own short
        transactions on the same database, e.g. the NHSA message log)."""
        return self._engine

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
        try:
            connection = self._engine.connect()
        except DRIVER_ERRORS as error:
            raise translate(error) from error
        try:
            if self._lock_timeout_ms is not None and is_sqlite(self._engine):
                # Must be set before BEGIN IMMEDIATE, which is where SQLite waits.
                raw = connection.connection.driver_connection
                assert raw is not None
                raw.execute(f"PRAGMA busy_timeout={int(self._lock_timeout_ms)}")
            self._transaction = connection.begin()
            if self._lock_timeout_ms is not None and not is_sqlite(self._engine):
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(self._lock_timeout_ms)}")
        except DRIVER_ERRORS as error:
            with contextlib.suppress(*DRIVER_ERRORS):
                self._close(connection)
            raise translate(error) from error
        self._connection = connection
        self.ledger = SqlAlchemyLedgerRepository(connection)
        self.settlements = SqlAlchemySettlementRepository(connection)
        self.accumulators = SqlAlchemyAccumulatorRepository(connection)
        self.people = SqlAlchemyPersonRepository(connection)
        self.templates = SqlAlchemyTemplateRepository(connection)
        self.shared = SqlAlchemySharedStateRepository(connection)
        self.consents = SqlAlchemyConsentRepository(connection)
        self.identifications = SqlAlchemyIdentificationRepository(connection)
        self.bills = SqlAlchemyBillRepository(connection)
        self.alerts = SqlAlchemyAlertRepository(connection)
        self.tenants = SqlAlchemyTenantRepository(connection)
        self.inpatient = SqlAlchemyInpatientRepository(connection)
        self.audit = SqlAlchemyAuditStore(connection)
        self.emergency = SqlAlchemyEmergencyRepository(connection)
        self.proxies = SqlAlchemyProxyRepository(connection)
        self.orders = SqlAlchemyOrderRepository(connection)
        self.appointments = SqlAlchemyAppointmentRepository(connection)
        self.offline = SqlAlchemyOfflineRepository(connection)
        self.hl7 = SqlAlchemyHisMessageRepository(connection)
        self.subscriptions = SqlAlchemySubscriptionRepository(connection)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        cleanup: BaseException | None = None
        try:
            if connection is not None:
                cleanup = self._roll_back_and_close(connection)
        finally:
            self._release_gate()
        if exc is not None:
            if (translated := translate(exc)) is not exc:
                raise translated from exc
            return  # the block's own error goes on as it is
        if cleanup is not None:
            raise translate(cleanup) from cleanup

    def _roll_back_and_close(self, connection: Connection) -> BaseException | None:
        """Roll back what was not committed and give the connection back; a connection the
        database dropped fails here, which is returned rather than raised over the block's
        own error."""
        failure: BaseException | None = None
        try:
            if self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        except DRIVER_ERRORS as error:
            failure = error
        try:
            self._close(connection)
        except DRIVER_ERRORS as error:
            failure = failure or error
        return failure

    def commit(self) -> None:
        """Commit the transaction."""
        assert self._transaction is not None
        try:
            self._transaction.commit()
        except DRIVER_ERRORS as error:
            raise translate(error) from error

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
