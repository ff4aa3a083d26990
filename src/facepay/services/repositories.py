"""Repositories of the identity, bill, tenant and supervision records (ports; see ports.py).

Implemented in memory (services.memory_identity) and on SQLAlchemy (adapters.db). None commits:
the use case's unit of work does. Lookups that take a hospital id return nothing for objects of
another hospital, so that a use case can answer NotFound without saying the object exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

from facepay.hospital.appointments import Appointment, BookingPolicy, Schedule
from facepay.hospital.bills import PostedBill
from facepay.hospital.emergency import EmergencyCharge, EmergencyIdentification, EmergencyRecord
from facepay.hospital.his_subscriptions import HisSubscription
from facepay.hospital.inpatient import BedsideCheckIn, ChargeLine, Deposit, Discharge, Stay
from facepay.hospital.offline import (
    OfflineIssue,
    OfflineVoucherRecord,
    SiteOfflineLimits,
    SyncState,
)
from facepay.hospital.orders import DispensingOrder, ServiceRequest
from facepay.hospital.proxies import ProxyGrant
from facepay.hospital.tenants import Hospital, Region, StaffUser, TerminalRecord
from facepay.identity.records import (
    ConsentRecord,
    ErasureRecord,
    IdentificationRecord,
    InsuredPerson,
    TemplateRecord,
)
from facepay.supervision.alerts import Alert
from facepay.vision.liveness.challenge import Challenge

PageKey = tuple[datetime, str]
"""Where a page of a listing ends: the last row's (created_at, id); listings run in that order."""


@dataclass(frozen=True)
class RecordQuery:
    """A search over one site's bills or settlements (the FHIR facade's searches): in
    (time, id) order, after `after` or - for a previous page - the last `limit` before
    `before`. `since` / `until` bound the time (inclusive / exclusive); for settlements `on`
    says which time: when they were made, or when they were reversed."""

    hospital_id: str
    person_id: str | None = None
    statuses: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: PageKey | None = None
    before: PageKey | None = None
    limit: int = 50
    on: Literal["created", "reversed"] = "created"

    def admits(self, key: PageKey, *, person_id: str, status: str) -> bool:
        """Whether a row with this (time, id), person and status is in the query (the
        in-memory implementations filter with it; SQL says the same in its WHERE)."""
        at = key[0]
        return (
            (self.person_id is None or person_id == self.person_id)
            and (self.statuses is None or status in self.statuses)
            and (self.since is None or at >= self.since)
            and (self.until is None or at < self.until)
            and (self.after is None or key > self.after)
            and (self.before is None or key < self.before)
        )

    def page(self, rows: list[tuple[PageKey, object]]) -> list[object]:
        """The page of admitted, keyed rows: the first `limit`, or the last before `before`."""
        ordered = [row for _, row in sorted(rows, key=lambda item: item[0])]
        if self.before is not None:
            return ordered[-self.limit :] if self.limit else []
        return ordered[: self.limit]


class PersonRepository(Protocol):
    """The insurance registry."""

    def add(self, person: InsuredPerson) -> None:
        """Store a person (Conflict if the ID number is registered already)."""

    def get(self, person_id: str) -> InsuredPerson | None:
        """By id."""

    def by_id_number(self, id_number: str) -> InsuredPerson | None:
        """By normalised ID number."""

    def get_many(self, person_ids: Sequence[str]) -> dict[str, InsuredPerson]:
        """Those of `person_ids` that exist."""


class TemplateRepository(Protocol):
    """Sealed face templates."""

    def add(self, record: TemplateRecord) -> None:
        """Store a sealed template."""

    def get_many(self, template_ids: Sequence[str]) -> dict[str, TemplateRecord]:
        """Those of `template_ids` that exist."""

    def of_person(self, person_id: str) -> list[TemplateRecord]:
        """Every template of a person, at every site (the use case filters by scope)."""

    def delete(self, template_ids: Sequence[str]) -> int:
        """Delete rows, journalled as removals; returns how many."""

    def scopes(self, model_version: str) -> dict[str, str]:
        """Every usable (not quarantined) template id of one model, with its gallery scope."""

    def changes_after(self, seq: int, *, limit: int) -> list[TemplateChange]:
        """Journal entries with a sequence number above `seq`, in order (at most `limit`)."""

    def last_change(self) -> int:
        """The highest journal sequence number (0 for none)."""

    def iterate(self, model_version: str) -> Iterator[TemplateRecord]:
        """Every template of one model, quarantined ones included (to rebuild and check)."""

    def quarantine(self, template_id: str, *, at: datetime, reason: str) -> None:
        """Keep a template out of matching from now on, recording when and why (journalled as a
        removal)."""


@dataclass(frozen=True)
class TemplateChange:
    """One entry of the template journal: a template joined (`add`) or left (`remove`) the
    matchable set. Every add, delete and quarantine of a template row writes one in the same
    transaction, so each worker's gallery can follow the database (services.gallery_sync)."""

    seq: int
    template_id: str
    op: Literal["add", "remove"]
    scope: str
    model_version: str
    at: datetime


class ConsentRepository(Protocol):
    """Biometric consents."""

    def add(self, record: ConsentRecord) -> None:
        """Store a consent."""

    def active(self, person_id: str, hospital_id: str) -> list[ConsentRecord]:
        """Consents not withdrawn, given at one hospital."""

    def active_of_person(self, person_id: str) -> list[ConsentRecord]:
        """Every consent of a person not withdrawn, at any site (the use case filters by reach)."""

    def withdraw(self, consent_id: str, *, at: datetime, by: str) -> None:
        """Mark withdrawn."""

    def add_erasure(self, record: ErasureRecord) -> None:
        """Record an erasure."""

    def erasures(self, person_id: str, hospital_id: str) -> list[ErasureRecord]:
        """Erasures of a person at a hospital, oldest first."""


class IdentificationRepository(Protocol):
    """Identifications, single-use for a payment."""

    def add(self, record: IdentificationRecord) -> None:
        """Store one."""

    def get(self, identification_id: str, hospital_id: str) -> IdentificationRecord | None:
        """By id, only within the hospital; locks the row until the transaction ends."""

    def save(self, record: IdentificationRecord) -> None:
        """Overwrite a stored identification (resolution, attempts, use)."""


class BillRepository(Protocol):
    """Posted bills."""

    def add(self, bill: PostedBill) -> None:
        """Store (Conflict if the hospital posted this external reference already)."""

    def get(self, bill_id: str, hospital_id: str) -> PostedBill | None:
        """By id, only within the hospital; locks the row until the transaction ends."""

    def by_external_ref(self, hospital_id: str, external_ref: str) -> PostedBill | None:
        """By the hospital system's own reference."""

    def has_person(self, hospital_id: str, person_id: str) -> bool:
        """Whether the hospital posted any bill for this person."""

    def search(self, query: RecordQuery) -> list[PostedBill]:
        """The site's bills matching `query`, in (created_at, id) order."""

    def save(self, bill: PostedBill) -> None:
        """Overwrite status, settlement and payment time."""


class SubscriptionRepository(Protocol):
    """A site's FHIR rest-hook subscriptions, their cursors and delivery leases."""

    def add(self, subscription: HisSubscription) -> None:
        """Store a new subscription."""

    def get(self, subscription_id: str, hospital_id: str) -> HisSubscription | None:
        """Within the site only."""

    def of_site(self, hospital_id: str, *, limit: int) -> list[HisSubscription]:
        """The site's subscriptions, oldest first, at most `limit`."""

    def save(self, subscription: HisSubscription) -> None:
        """Overwrite what a caller may change (status, reason); cursor and lease stay."""

    def due(self, *, now: datetime, limit: int) -> list[HisSubscription]:
        """Live subscriptions whose next attempt is due and whose lease is free or expired."""

    def lease(self, subscription_id: str, *, owner: str, now: datetime, until: datetime) -> bool:
        """Take the lease if it is free or expired (compare-and-set): True if `owner` has it."""

    def record(
        self,
        subscription_id: str,
        *,
        owner: str,
        cursor: int,
        status: str,
        failures: int,
        next_attempt_at: datetime | None,
        last_error: str | None,
        release: bool,
    ) -> bool:
        """Store delivery progress while `owner` holds the lease (False: it lost it, nothing
        is written); `release` gives the lease up."""


class AlertRepository(Protocol):
    """Supervision alerts."""

    def add(self, alert: Alert) -> None:
        """Store one."""

    def of_hospital(self, hospital_id: str, *, kind: str | None = None) -> list[Alert]:
        """A hospital's alerts, oldest first."""


class TenantRepository(Protocol):
    """Hospitals, terminals, staff users and seen request nonces."""

    def add_hospital(self, hospital: Hospital) -> None:
        """Store a hospital."""

    def hospital(self, hospital_id: str) -> Hospital | None:
        """By id."""

    def region(self, region_id: str) -> Region | None:
        """By id."""

    def sites(self, region_id: str) -> list[Hospital]:
        """Every site of a region, by id."""

    def set_region_name(self, region_id: str, name: str) -> None:
        """Rename the region (`facepay admin init` names the installation's one)."""

    def add_terminal(self, terminal: TerminalRecord) -> None:
        """Store a terminal."""

    def terminal(self, terminal_id: str) -> TerminalRecord | None:
        """By id, revoked ones included."""

    def terminals_of(
        self, hospital_id: str, *, after: PageKey | None, limit: int
    ) -> list[TerminalRecord]:
        """Up to `limit` of a hospital's terminals, revoked ones included, after `after`."""

    def set_terminal_active(self, terminal_id: str, active: bool) -> None:
        """Revoke or re-enable."""

    def add_staff(self, user: StaffUser) -> None:
        """Store a staff user (Conflict if the user name is taken)."""

    def staff_by_username(self, username: str) -> StaffUser | None:
        """By user name."""

    def staff_by_id(self, staff_id: str) -> StaffUser | None:
        """By staff id."""

    def staff_of(self, hospital_id: str, *, after: PageKey | None, limit: int) -> list[StaffUser]:
        """Up to `limit` of a hospital's staff users, disabled ones included, after `after`."""

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        """Replace a staff user's hash."""

    def platform_operator_names(self) -> list[str]:
        """User names of the platform operators; none means `facepay admin init` never ran."""

    def installation_value(self, name: str) -> str | None:
        """A recorded fact about this installation (e.g. `template_key_id`), if any."""

    def set_installation_value(self, name: str, value: str, *, at: datetime) -> None:
        """Record (or replace) a fact about this installation."""

    def remember_nonce(
        self, *, terminal_id: str, nonce: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Atomic check-and-insert; False if the nonce is recorded and not expired."""

    def purge_nonces(self, *, now: datetime) -> int:
        """Forget every nonce that has expired; returns how many."""


class SharedStateRepository(Protocol):
    """State every worker process shares: issued challenges and rate-limit buckets."""

    def relax_durability(self) -> None:
        """This transaction may commit without waiting for its log on disk (losing it in a crash
        costs a few rate tokens; what its row locks decided stands)."""

    def add_challenge(self, challenge: Challenge) -> None:
        """Store an issued challenge."""

    def challenge(self, nonce: str) -> tuple[Challenge, bool] | None:
        """The challenge and whether it is redeemed; None if unknown."""

    def redeem_challenge(self, nonce: str, *, at: datetime) -> Challenge | None:
        """Mark redeemed if it was not; the challenge if this call redeemed it, else None."""

    def purge_challenges(self, *, now: datetime) -> int:
        """Forget challenges past their expiry."""

    def count_challenges(self) -> int:
        """How many are kept."""

    def bucket(self, key: str) -> tuple[float, float] | None:
        """(tokens, updated_at) of a rate bucket, locked for this transaction."""

    def put_bucket(self, key: str, *, tokens: float, updated_at: float, new: bool) -> None:
        """Store a bucket (`new`: it did not exist)."""

    def purge_buckets(self, *, before: float) -> int:
        """Forget buckets untouched since `before`."""


class EmergencyRepository(Protocol):
    """Emergency identifications, records and their charges (facepay.hospital.emergency); every
    read is within one site."""

    def add_identification(self, record: EmergencyIdentification) -> None:
        """Store a region-wide emergency identification."""

    def identification(
        self, identification_id: str, hospital_id: str
    ) -> EmergencyIdentification | None:
        """Within the site; locked (FOR UPDATE) so that two merges cannot both use it."""

    def save_identification(self, record: EmergencyIdentification) -> None:
        """Overwrite (marks it used)."""

    def next_number(self, hospital_id: str, day: date) -> int:
        """The next record number of the site's day (1, 2, ...), counted under a row lock so
        that two desks opening records at once get different numbers."""

    def add_record(self, record: EmergencyRecord) -> None:
        """Store a new record ((site, number) is unique)."""

    def record(self, record_id: str, hospital_id: str) -> EmergencyRecord | None:
        """Within the site; locked (FOR UPDATE): one charge or merge at a time."""

    def save_record(self, record: EmergencyRecord) -> None:
        """Overwrite."""

    def records(self, hospital_id: str, *, status: str | None, limit: int) -> list[EmergencyRecord]:
        """The site's records, newest first (only `status` ones when given)."""

    def record_by_bill(self, hospital_id: str, bill_id: str) -> EmergencyRecord | None:
        """The merged record whose bill this is, locked; None for any other bill."""

    def add_charge(self, charge: EmergencyCharge) -> None:
        """Store a charge ((site, idempotency key) is unique)."""

    def charge_by_key(self, hospital_id: str, idempotency_key: str) -> EmergencyCharge | None:
        """The site's charge made with this key, if any."""

    def charges_of(self, record_id: str) -> list[EmergencyCharge]:
        """A record's charges, oldest first."""

    def merged_of_person(self, person_id: str) -> list[EmergencyRecord]:
        """The person's records merged and not settled yet, of every site: what their
        `arrears:` account holds that their bills, not the window, will clear."""


class InpatientRepository(Protocol):
    """Stays, their deposits, charge lines, bedside check-ins and discharge settlements.

    Race-proof by the storage itself: at most one open stay per person in the whole region and
    one per bed (`add_stay` and `save_stay` raise Conflict `already_admitted` / `bed_occupied`
    when a concurrent admission won), one check-in per stay and day (`bedside_checked_in`)."""

    def add_stay(self, stay: Stay) -> None:
        """Store a new stay."""

    def stay(self, stay_id: str, hospital_id: str) -> Stay | None:
        """Within the hospital; locked until the transaction ends (one change at a time)."""

    def open_stay_of_person(self, person_id: str) -> Stay | None:
        """The person's open stay at any site of the region, if any."""

    def open_stay_in_bed(self, hospital_id: str, ward: str, bed: str) -> Stay | None:
        """The open stay that holds this bed, if any."""

    def save_stay(self, stay: Stay) -> None:
        """Overwrite a stay's status, discharge time and alert flag."""

    def add_deposit(self, deposit: Deposit) -> None:
        """Store a deposit (its idempotency key is unique)."""

    def deposit_by_key(self, idempotency_key: str) -> Deposit | None:
        """The deposit made with this idempotency key."""

    def deposits_of(self, stay_id: str) -> list[Deposit]:
        """A stay's deposits, oldest first."""

    def save_deposit(self, deposit: Deposit) -> None:
        """Overwrite a deposit's hold and applied amount."""

    def add_charge_lines(self, lines: Sequence[ChargeLine]) -> None:
        """Store the lines of one charge reference."""

    def charge_lines(self, stay_id: str, reference: str) -> list[ChargeLine]:
        """The lines posted under one charge reference, by line number."""

    def charges_of(self, stay_id: str) -> list[ChargeLine]:
        """Every charge line of a stay, by service date, reference and line number."""

    def add_check_in(self, check_in: BedsideCheckIn) -> None:
        """Store a bedside check-in (Conflict `bedside_checked_in` for a second one a day)."""

    def check_ins_of(self, stay_id: str) -> list[BedsideCheckIn]:
        """A stay's bedside check-ins, by day."""

    def add_discharge(self, discharge: Discharge) -> None:
        """Store a discharge settlement."""

    def save_discharge(self, discharge: Discharge) -> None:
        """Overwrite a discharge's status and reversal."""

    def discharges_of(self, stay_id: str) -> list[Discharge]:
        """A stay's discharge settlements, oldest first."""

    def discharge_by_key(self, idempotency_key: str) -> Discharge | None:
        """The discharge made with this idempotency key."""

    def discharge_by_reversal_key(self, reversal_key: str) -> Discharge | None:
        """The discharge that the reversal `reversal_key` cancelled."""


class ProxyRepository(Protocol):
    """Grants that let a guardian or carer act for a patient (facepay.hospital.proxies)."""

    def add(self, grant: ProxyGrant) -> None:
        """Store a new grant."""

    def get(self, grant_id: str) -> ProxyGrant | None:
        """By id, at any site (a grant holds across the region)."""

    def between(self, patient_id: str, proxy_id: str) -> list[ProxyGrant]:
        """Every grant, live or not, that lets `proxy_id` act for `patient_id`."""

    def of_patient(self, patient_id: str) -> list[ProxyGrant]:
        """Every grant for a patient, oldest first."""

    def revoke(self, grant_id: str, *, at: datetime, by: str) -> None:
        """Mark a grant revoked."""


@dataclass(frozen=True)
class WindowEvent:
    """A change of a dispensing order, numbered in commit order per database (not per window):
    what a pharmacy window's event stream sends."""

    seq: int
    order_id: str
    kind: Literal["created", "collected", "returned"]
    at: datetime


class OrderRepository(Protocol):
    """Dispensing orders, their window events, and service requests (exams and lab tests)."""

    def add_dispensing(self, order: DispensingOrder) -> None:
        """Store a new order (Conflict if the bill has one for this window already)."""

    def dispensing(self, order_id: str, hospital_id: str) -> DispensingOrder | None:
        """By id, only within the hospital; locks the row until the transaction ends."""

    def save_dispensing(self, order: DispensingOrder) -> None:
        """Overwrite the lines, status and update time."""

    def dispensing_of_bill(self, bill_id: str) -> list[DispensingOrder]:
        """Every order of a bill, by window."""

    def window_queue(
        self, hospital_id: str, window: str, *, limit: int, open_only: bool = True
    ) -> list[DispensingOrder]:
        """Up to `limit` orders of one window, oldest first (open ones only by default)."""

    def search_dispensing(self, query: RecordQuery) -> list[DispensingOrder]:
        """The site's orders matching `query` (statuses: the orders' own, queued / partial /
        done), in (created_at, id) order (the FHIR MedicationRequest searches)."""

    def add_event(
        self, hospital_id: str, window: str, *, order_id: str, kind: str, at: datetime
    ) -> None:
        """Append a window event (its number is given by the database)."""

    def last_event(self, hospital_id: str, window: str) -> int:
        """The highest event number of the window (0 for none): the cheap poll of a stream."""

    def events_after(
        self, hospital_id: str, window: str, after: int, *, limit: int
    ) -> list[WindowEvent]:
        """The window's events numbered above `after`, in order, at most `limit`."""

    def add_request(self, request: ServiceRequest) -> None:
        """Store a new service request (Conflict if the bill line has one already)."""

    def request(self, request_id: str, hospital_id: str) -> ServiceRequest | None:
        """By id, only within the hospital; locks the row until the transaction ends."""

    def save_request(self, request: ServiceRequest) -> None:
        """Overwrite status, times and result."""

    def worklist(
        self, hospital_id: str, department: str, *, statuses: Sequence[str], limit: int
    ) -> list[ServiceRequest]:
        """Up to `limit` requests of a department in these statuses, oldest first."""

    def requests_of_person(
        self, hospital_id: str, person_id: str, *, limit: int
    ) -> list[ServiceRequest]:
        """A patient's latest requests at the hospital, newest first."""

    def requests_of_bill(self, bill_id: str) -> list[ServiceRequest]:
        """Every service request of a bill, by line."""


class AppointmentRepository(Protocol):
    """Booking policies, schedules and appointments of the sites (facepay.hospital.appointments).

    The audit log is the event stream of bookings, cancels and check-ins (actions
    `appointment.book`, `appointment.cancel`, `appointment.check_in`): this repository keeps the
    current state only.
    """

    def policy(self, hospital_id: str) -> BookingPolicy | None:
        """The site's own booking policy (None: the settings' defaults apply)."""

    def set_policy(self, hospital_id: str, policy: BookingPolicy, *, at: datetime) -> None:
        """Store (or replace) the site's booking policy."""

    def add_schedule(self, schedule: Schedule) -> None:
        """Store (Conflict `duplicate_schedule` if the doctor has that session already)."""

    def schedule(
        self, schedule_id: str, hospital_id: str, *, lock: bool = False
    ) -> Schedule | None:
        """By id, only within the hospital; `lock`: until the transaction ends (slot allocation
        of one session is serialised on this row)."""

    def schedules(
        self, hospital_id: str, *, session_date: date, department: str | None, limit: int
    ) -> list[Schedule]:
        """A day's sessions (of one department), by start time, department, doctor, id."""

    def search_schedules(self, query: RecordQuery) -> list[Schedule]:
        """The site's sessions by (starts_at, id) in the query's time range and page (the FHIR
        Slot searches; person and statuses do not apply)."""

    def search(self, query: RecordQuery) -> list[tuple[Appointment, Schedule]]:
        """The site's bookings with their sessions matching `query` (person, statuses, the
        session's start in the time range), by (session start, booking id)."""

    def lock_person(self, hospital_id: str, person_id: str) -> None:
        """Lock the person's booking row at the site (made on first use) until the transaction
        ends: their bookings are checked against the limits one at a time."""

    def add(self, appointment: Appointment) -> None:
        """Store a booking."""

    def get(self, appointment_id: str, hospital_id: str) -> Appointment | None:
        """By id, only within the hospital; locks the row until the transaction ends."""

    def by_key(self, hospital_id: str, idempotency_key: str) -> Appointment | None:
        """The booking made with this idempotency key."""

    def by_cancel_key(self, hospital_id: str, cancel_key: str) -> Appointment | None:
        """The booking cancelled with this idempotency key."""

    def save(self, appointment: Appointment) -> None:
        """Overwrite status, check-in, cancel and release fields."""

    def of_schedules(self, schedule_ids: Sequence[str]) -> dict[str, list[Appointment]]:
        """Every booking (cancelled ones too) of these sessions, by slot then booking time."""

    def held_by(
        self, hospital_id: str, person_id: str, *, start: date, end: date
    ) -> list[tuple[Appointment, Schedule]]:
        """The person's active (not cancelled) bookings at the site of sessions from `start`
        to `end`, each with its session."""


class OfflineRepository(Protocol):
    """Offline payment's server side (facepay.services.offline_*): each site's limits, the
    terminals' sealing keys, the packages issued, the vouchers received and each terminal's
    chain position.

    Race-proof by the storage itself: a voucher id is stored once, and at most one voucher that
    is not quarantined holds a (terminal, counter) (`add_voucher` raises Conflict
    `voucher_exists` when a concurrent request won); `lock_sync` serialises a terminal's vouchers
    across processes and servers."""

    def limits(self, hospital_id: str) -> SiteOfflineLimits | None:
        """The site's own offline limits (None: the defaults apply)."""

    def set_limits(self, hospital_id: str, limits: SiteOfflineLimits) -> None:
        """Store (or replace) the site's limits."""

    def sealing_key(self, terminal_id: str) -> bytes | None:
        """The terminal's registered X25519 public key (raw 32 bytes), if any."""

    def set_sealing_key(self, terminal_id: str, public_key: bytes, *, at: datetime) -> None:
        """Register (or replace) the terminal's sealing key."""

    def site_people(self, hospital_id: str, *, day: date, limit: int) -> list[str]:
        """Persons the site may need offline: an open bill there, a live booking of a session on
        `day` (local) there, or an open stay there; at most `limit`, each once."""

    def open_bills(self, hospital_id: str, person_id: str, *, limit: int) -> list[PostedBill]:
        """The person's open bills at the site, newest first, at most `limit`."""

    def record_issue(self, issue: OfflineIssue) -> bool:
        """Store an issued package; the same (terminal, library, limits) again only moves its
        `last_issued_at`. True when the package is new."""

    def issues(self, terminal_id: str, library_version: str) -> list[OfflineIssue]:
        """The packages of this library version issued to the terminal."""

    def lock_sync(self, terminal_id: str) -> SyncState:
        """The terminal's chain position (made on first use), locked until the transaction ends."""

    def save_sync(self, state: SyncState) -> None:
        """Overwrite the terminal's chain position (`lock_sync` must have returned it)."""

    def voucher(self, voucher_id: str) -> OfflineVoucherRecord | None:
        """A voucher by id, of any site (the use case checks whose it is)."""

    def live_with_counter(self, terminal_id: str, counter: int) -> OfflineVoucherRecord | None:
        """The voucher that is not quarantined holding this counter of the terminal, if any."""

    def add_voucher(self, record: OfflineVoucherRecord) -> None:
        """Store a voucher received (Conflict `voucher_exists` on a taken id or live counter)."""

    def save_voucher(self, record: OfflineVoucherRecord) -> None:
        """Overwrite a voucher's status and outcome."""

    def vouchers(
        self,
        hospital_id: str,
        *,
        status: str | None,
        terminal_id: str | None,
        after: PageKey | None,
        limit: int,
    ) -> list[OfflineVoucherRecord]:
        """The site's vouchers in (received_at, id) order after `after`, at most `limit`."""

    def differences_of(
        self, hospital_id: str, person_id: str, *, limit: int
    ) -> list[OfflineVoucherRecord]:
        """The site's vouchers of the person that left arrears or a refund due, newest received
        first, at most `limit`."""
