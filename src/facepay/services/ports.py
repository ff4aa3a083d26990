"""What use cases need from storage: repositories behind one unit of work.

`SqlAlchemyUnitOfWork` (facepay.adapters.db) implements `UnitOfWork` on SQLite and PostgreSQL.
Use cases own the transaction: `with uow: ...; uow.commit()`; leaving the block without a
commit rolls everything back, so that an error half-way stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol, Self

from facepay.insurance.model import Accumulators, Bill, Coverage, Settlement
from facepay.ledger.ports import LedgerRepository
from facepay.shared.errors import Conflict, Unavailable
from facepay.supervision.audit_store import AuditStore

if TYPE_CHECKING:
    from facepay.services.his_messages import HisMessageRepository
    from facepay.services.repositories import (
        AlertRepository,
        AppointmentRepository,
        BillRepository,
        ConsentRepository,
        EmergencyRepository,
        IdentificationRepository,
        InpatientRepository,
        OfflineRepository,
        OrderRepository,
        PersonRepository,
        ProxyRepository,
        RecordQuery,
        SharedStateRepository,
        SubscriptionRepository,
        TemplateRepository,
        TenantRepository,
    )

SettlementStatus = Literal["settled", "reversed"]


class StorageBusy(Conflict):
    """The database could not serve the request in time (a lock wait ran out, a race was lost).
    Nothing was stored; retrying with the same idempotency key is safe."""

    code = "storage_busy"


class StorageUnavailable(Unavailable):
    """The database cannot store or read now: its disk is full, it is down or unreachable, it
    ran out of memory or connections. Nothing was stored; retry later with the same key."""

    code = "storage_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message, retry_after=retry_after)


@dataclass(frozen=True)
class SettlementRecord:
    """A stored settlement: the calculation, the posting that moved the money, its status."""

    id: str
    hospital_id: str | None
    """Whose books it was posted to (None: settled before books were kept per hospital)."""
    idempotency_key: str
    fingerprint: str
    person_id: str
    settlement: Settlement
    posting_key: str | None
    status: SettlementStatus
    created_at: datetime
    reversal_key: str | None = None
    reversed_at: datetime | None = None
    bill: Bill | None = None
    """What was settled: the bill as the policy saw it (None for settlements made before the
    inputs were kept, migration 0019)."""
    coverage: Coverage | None = None
    """Who paid, as `settle` saw them: category, assistance, the personal account available."""

    @property
    def accumulators_before(self) -> Accumulators:
        """The year's accumulators the split was computed on."""
        return self.settlement.accumulators_after.minus(self.settlement.deltas)


@dataclass(frozen=True)
class SiteTotals:
    """What one site's standing settlements add up to, in fen, under the national field names:
    the fund parts (what the funds owe the site) and what the patients paid it."""

    settlements: int = 0
    medfee_sumamt: int = 0
    fund_pay_sumamt: int = 0
    hifp_pay: int = 0
    hifmi_pay: int = 0
    maf_pay: int = 0
    acct_pay: int = 0
    psn_cash_pay: int = 0


TOTAL_FIELDS = tuple(f for f in SiteTotals.__dataclass_fields__ if f != "settlements")


class SettlementRepository(Protocol):
    """Settlement records, found by id or idempotency key."""

    def totals_by_site(self) -> dict[str, SiteTotals]:
        """Every site's standing (not reversed) settlements, summed per site."""

    def add(self, record: SettlementRecord) -> None:
        """Store a new settlement."""

    def of_site(
        self, hospital_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[SettlementRecord]:
        """The site's settlements in (created_at, id) order, after `after`, at most `limit`."""

    def search(self, query: RecordQuery) -> list[SettlementRecord]:
        """The site's settlements matching `query` (`on`: by when they were made or reversed;
        `statuses`: settled, reversed), in (that time, id) order."""

    def get(self, settlement_id: str) -> SettlementRecord | None:
        """By id."""

    def by_key(self, idempotency_key: str) -> SettlementRecord | None:
        """By the idempotency key it was settled with."""

    def by_reversal_key(self, reversal_key: str) -> SettlementRecord | None:
        """The settlement that the reversal `reversal_key` undid."""

    def mark_reversed(self, settlement_id: str, *, reversal_key: str, at: datetime) -> None:
        """Record that the settlement was reversed."""


class AccumulatorRepository(Protocol):
    """A person's year-to-date totals, one row per person and year."""

    def lock(self, person_id: str, year: int) -> Accumulators:
        """Load (zeros if none yet) and lock the row until the transaction ends."""

    def save(self, person_id: str, accumulators: Accumulators) -> None:
        """Write the row of `accumulators.year`, which `lock` must have returned before."""


class UnitOfWork(Protocol):
    """One database transaction and the repositories that work inside it."""

    # Read-only members: an implementation may hold narrower (technology-named) repositories.
    @property
    def ledger(self) -> LedgerRepository:
        """The ledger repository of this transaction."""
        ...

    @property
    def settlements(self) -> SettlementRepository:
        """The settlements repository of this transaction."""
        ...

    @property
    def accumulators(self) -> AccumulatorRepository:
        """The accumulators repository of this transaction."""
        ...

    @property
    def people(self) -> PersonRepository:
        """The people repository of this transaction."""
        ...

    @property
    def templates(self) -> TemplateRepository:
        """The templates repository of this transaction."""
        ...

    @property
    def shared(self) -> SharedStateRepository:
        """Challenges and rate buckets every worker shares (facepay.services.shared_state)."""
        ...

    @property
    def consents(self) -> ConsentRepository:
        """The consents repository of this transaction."""
        ...

    @property
    def identifications(self) -> IdentificationRepository:
        """The identifications repository of this transaction."""
        ...

    @property
    def bills(self) -> BillRepository:
        """The bills repository of this transaction."""
        ...

    @property
    def alerts(self) -> AlertRepository:
        """The alerts repository of this transaction."""
        ...

    @property
    def tenants(self) -> TenantRepository:
        """The tenants repository of this transaction."""
        ...

    @property
    def appointments(self) -> AppointmentRepository:
        """Booking policies, schedules and appointments (facepay.services.appointments)."""
        ...

    @property
    def inpatient(self) -> InpatientRepository:
        """Inpatient stays and their deposits, charges, check-ins and discharges."""
        ...

    @property
    def audit(self) -> AuditStore:
        """The hash-chained audit log, appended in the same transaction as the change."""
        ...

    @property
    def emergency(self) -> EmergencyRepository:
        """Emergency identifications, records and charges (facepay.services.emergency)."""
        ...

    @property
    def proxies(self) -> ProxyRepository:
        """Guardians and carers who may act for a patient."""
        ...

    @property
    def subscriptions(self) -> SubscriptionRepository:
        """FHIR rest-hook subscriptions (facepay.services.his_notifications)."""
        ...

    @property
    def offline(self) -> OfflineRepository:
        """Offline limits, sealing keys, issued packages, vouchers (facepay.services.offline_*)."""
        ...

    @property
    def orders(self) -> OrderRepository:
        """Dispensing orders and service requests (facepay.services.dispensing, .exams)."""
        ...

    @property
    def hl7(self) -> HisMessageRepository:
        """HL7 v2 messages received, HIS patient links, notification cursors."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None:
        """Make everything done in this unit of work durable, at once."""

    def rollback(self) -> None:
        """Drop everything done in this unit of work."""
