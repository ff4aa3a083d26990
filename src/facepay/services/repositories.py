"""Repositories of the identity, bill, tenant and supervision records (ports; see ports.py).

Implemented in memory (services.memory_identity) and on SQLAlchemy (adapters.db). None commits:
the use case's unit of work does. Lookups that take a hospital id return nothing for objects of
another hospital, so that a use case can answer NotFound without saying the object exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from facepay.hospital.bills import PostedBill
from facepay.hospital.inpatient import BedsideCheckIn, ChargeLine, Deposit, Discharge, Stay
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

    def save(self, bill: PostedBill) -> None:
        """Overwrite status, settlement and payment time."""


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
