"""In-memory `UnitOfWork`: the fake for service tests and the demo without a database.

Each unit of work holds the store's lock from `with` to exit (one writer at a time, as SQLite's
BEGIN IMMEDIATE), works on the live objects, and restores a snapshot unless committed.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import TracebackType
from typing import Self

from facepay.insurance.model import Accumulators
from facepay.ledger.memory import InMemoryLedgerRepository
from facepay.services.memory_appointments import InMemoryAppointmentRepository
from facepay.services.memory_emergency import InMemoryEmergencyRepository
from facepay.services.memory_hl7 import InMemoryHisMessageRepository
from facepay.services.memory_identity import (
    InMemoryAlertRepository,
    InMemoryAuditEntries,
    InMemoryBillRepository,
    InMemoryConsentRepository,
    InMemoryIdentificationRepository,
    InMemoryPersonRepository,
    InMemorySharedState,
    InMemoryTemplateRepository,
    InMemoryTenantRepository,
)
from facepay.services.memory_inpatient import InMemoryInpatientRepository
from facepay.services.memory_offline import InMemoryOfflineRepository
from facepay.services.memory_orders import InMemoryOrderRepository
from facepay.services.memory_proxies import InMemoryProxyRepository
from facepay.services.memory_subscriptions import InMemorySubscriptionRepository
from facepay.services.ports import TOTAL_FIELDS, SettlementRecord, SiteTotals
from facepay.services.repositories import PageKey, RecordQuery
from facepay.shared.errors import Conflict


class InMemorySettlementRepository:
    """Settlements in a dict."""

    def __init__(self) -> None:
        self.records: dict[str, SettlementRecord] = {}

    def totals_by_site(self) -> dict[str, SiteTotals]:
        """Standing settlements summed per site."""
        sums: dict[str, list[int]] = {}
        for record in self.records.values():
            if record.status == "settled" and record.hospital_id is not None:
                row = sums.setdefault(record.hospital_id, [0] * (1 + len(TOTAL_FIELDS)))
                row[0] += 1
                for i, name in enumerate(TOTAL_FIELDS, start=1):
                    row[i] += getattr(record.settlement, name)
        return {site: SiteTotals(*row) for site, row in sums.items()}

    def add(self, record: SettlementRecord) -> None:
        """Store a settlement (unique id and key, as the database enforces)."""
        if record.id in self.records or self.by_key(record.idempotency_key) is not None:
            raise Conflict("duplicate settlement")
        self.records[record.id] = record

    def of_site(
        self, hospital_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[SettlementRecord]:
        """A page of the site's settlements, oldest first."""
        rows = sorted(
            (r for r in self.records.values() if r.hospital_id == hospital_id),
            key=lambda r: (r.created_at, r.id),
        )
        return [r for r in rows if after is None or (r.created_at, r.id) > after][:limit]

    def search(self, query: RecordQuery) -> list[SettlementRecord]:
        """The site's settlements matching `query`, in (time, id) order."""
        keyed: list[tuple[PageKey, object]] = []
        for r in self.records.values():
            at = r.created_at if query.on == "created" else r.reversed_at
            if r.hospital_id != query.hospital_id or at is None:
                continue
            if query.admits((at, r.id), person_id=r.person_id, status=r.status):
                keyed.append(((at, r.id), r))
        return [r for r in query.page(keyed) if isinstance(r, SettlementRecord)]

    def get(self, settlement_id: str) -> SettlementRecord | None:
        """By id."""
        return self.records.get(settlement_id)

    def by_key(self, idempotency_key: str) -> SettlementRecord | None:
        """By idempotency key."""
        return next(
            (r for r in self.records.values() if r.idempotency_key == idempotency_key), None
        )

    def by_reversal_key(self, reversal_key: str) -> SettlementRecord | None:
        """By reversal key."""
        return next((r for r in self.records.values() if r.reversal_key == reversal_key), None)

    def mark_reversed(self, settlement_id: str, *, reversal_key: str, at: datetime) -> None:
        """Set the status."""
        record = self.records[settlement_id]
        self.records[settlement_id] = replace(
            record, status="reversed", reversal_key=reversal_key, reversed_at=at
        )


class InMemoryAccumulatorRepository:
    """Accumulators keyed by (person, year)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], Accumulators] = {}

    def lock(self, person_id: str, year: int) -> Accumulators:
        """The row, zeros if none (the store lock already serialises writers)."""
        return self.rows.setdefault((person_id, year), Accumulators(year=year))

    def save(self, person_id: str, accumulators: Accumulators) -> None:
        """Overwrite the row."""
        self.rows[(person_id, accumulators.year)] = accumulators


@dataclass
class InMemoryStore:
    """Everything a set of in-memory units of work share."""

    ledger: InMemoryLedgerRepository = field(default_factory=InMemoryLedgerRepository)
    settlements: InMemorySettlementRepository = field(default_factory=InMemorySettlementRepository)
    accumulators: InMemoryAccumulatorRepository = field(
        default_factory=InMemoryAccumulatorRepository
    )
    people: InMemoryPersonRepository = field(default_factory=InMemoryPersonRepository)
    templates: InMemoryTemplateRepository = field(default_factory=InMemoryTemplateRepository)
    shared: InMemorySharedState = field(default_factory=InMemorySharedState)
    consents: InMemoryConsentRepository = field(default_factory=InMemoryConsentRepository)
    identifications: InMemoryIdentificationRepository = field(
        default_factory=InMemoryIdentificationRepository
    )
    bills: InMemoryBillRepository = field(default_factory=InMemoryBillRepository)
    alerts: InMemoryAlertRepository = field(default_factory=InMemoryAlertRepository)
    tenants: InMemoryTenantRepository = field(default_factory=InMemoryTenantRepository)
    inpatient: InMemoryInpatientRepository = field(default_factory=InMemoryInpatientRepository)
    audit: InMemoryAuditEntries = field(default_factory=InMemoryAuditEntries)
    emergency: InMemoryEmergencyRepository = field(default_factory=InMemoryEmergencyRepository)
    proxies: InMemoryProxyRepository = field(default_factory=InMemoryProxyRepository)
    orders: InMemoryOrderRepository = field(default_factory=InMemoryOrderRepository)
    appointments: InMemoryAppointmentRepository = field(
        default_factory=InMemoryAppointmentRepository
    )
    offline: InMemoryOfflineRepository = field(default_factory=InMemoryOfflineRepository)
    hl7: InMemoryHisMessageRepository = field(default_factory=InMemoryHisMessageRepository)
    subscriptions: InMemorySubscriptionRepository = field(
        default_factory=InMemorySubscriptionRepository
    )
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        # A function, not a bound method: deepcopy (the unit of work's snapshot) keeps a
        # function as it is, where it would copy a method's whole store.
        store = self
        self.offline.people = lambda hospital_id, day, limit: _site_people(
            store, hospital_id, day, limit
        )
        self.offline.bills = lambda hospital_id, person_id: sorted(
            (
                b
                for b in store.bills.rows.values()
                if (b.hospital_id, b.person_id, b.status) == (hospital_id, person_id, "open")
            ),
            key=lambda b: (b.created_at, b.id),
            reverse=True,
        )


def _site_people(store: InMemoryStore, hospital_id: str, day: date, limit: int) -> list[str]:
    """Open bills, live bookings of `day` and open stays of the site (OfflineRepository)."""
    found = [
        b.person_id
        for b in store.bills.rows.values()
        if b.hospital_id == hospital_id and b.status == "open"
    ]
    schedules = store.appointments.schedule_rows
    found += [
        a.person_id
        for a in store.appointments.rows.values()
        if a.hospital_id == hospital_id
        and a.active
        and schedules[a.schedule_id].session_date == day
    ]
    found += [
        s.person_id
        for s in store.inpatient.stays.values()
        if s.hospital_id == hospital_id and s.status == "admitted"
    ]
    return list(dict.fromkeys(found))[:limit]


class InMemoryUnitOfWork:
    """`with uow: ...; uow.commit()` over an `InMemoryStore`; uncommitted work is undone."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._snapshot: tuple[object, ...] | None = None
        self.ledger = store.ledger
        self.settlements = store.settlements
        self.accumulators = store.accumulators
        self.people = store.people
        self.templates = store.templates
        self.shared = store.shared
        self.consents = store.consents
        self.identifications = store.identifications
        self.bills = store.bills
        self.alerts = store.alerts
        self.tenants = store.tenants
        self.inpatient = store.inpatient
        self.audit = store.audit
        self.emergency = store.emergency
        self.proxies = store.proxies
        self.orders = store.orders
        self.appointments = store.appointments
        self.offline = store.offline
        self.hl7 = store.hl7
        self.subscriptions = store.subscriptions

    def __enter__(self) -> Self:
        self._store.lock.acquire()
        self._snapshot = copy.deepcopy(self._repositories())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._snapshot is not None:
                self.rollback()
        finally:
            self._store.lock.release()

    def commit(self) -> None:
        """Keep the changes."""
        self._snapshot = None

    def rollback(self) -> None:
        """Put back the state found at `with`."""
        assert self._snapshot is not None
        for live, saved in zip(self._repositories(), self._snapshot, strict=True):
            live.__dict__.clear()
            live.__dict__.update(copy.deepcopy(saved.__dict__))

    def _repositories(self) -> tuple[object, ...]:
        return (
            self.ledger,
            self.settlements,
            self.accumulators,
            self.people,
            self.templates,
            self.shared,
            self.consents,
            self.identifications,
            self.bills,
            self.alerts,
            self.tenants,
            self.inpatient,
            self.audit,
            self.emergency,
            self.proxies,
            self.orders,
            self.appointments,
            self.offline,
            self.hl7,
            self.subscriptions,
        )
