"""Read-only lookups an integrator needs: a hospital's terminals and staff, insured persons by ID
number, bills by the hospital system's reference.

Every lookup is scoped to one hospital: another hospital's object is `NotFound`, exactly as an id
that does not exist. Listings come a page at a time in (created_at, id) order, so that a client
paging through sees every row once even while rows are added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from facepay.hospital.bills import PostedBill
from facepay.hospital.tenants import StaffUser, TerminalRecord
from facepay.identity.id_card import normalise_id_number
from facepay.identity.records import InsuredPerson
from facepay.services.context import Storage
from facepay.services.ports import SettlementRecord, UnitOfWork
from facepay.services.repositories import PageKey
from facepay.shared.errors import NotFound

T = TypeVar("T")
R = TypeVar("R", TerminalRecord, StaffUser, SettlementRecord)
"""A record listed by creation time and id."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """Some rows of a listing, and the key to ask for the next ones (None: there are none)."""

    items: list[T]
    next: PageKey | None


def _page(rows: list[R], limit: int) -> Page[R]:
    """`rows` fetched with `limit + 1`: the extra row only says that another page exists, which
    then starts after the last row shown (its creation time and id)."""
    if len(rows) <= limit:
        return Page(rows, None)
    last = rows[limit - 1]
    return Page(rows[:limit], (last.created_at, last.id))


def list_terminals(
    *, ctx: Storage, hospital_id: str, after: PageKey | None, limit: int
) -> Page[TerminalRecord]:
    """The hospital's terminals, revoked ones included (`active` False)."""
    with ctx.uow() as uow:
        rows = uow.tenants.terminals_of(hospital_id, after=after, limit=limit + 1)
    return _page(rows, limit)


def get_terminal(*, ctx: Storage, hospital_id: str, terminal_id: str) -> TerminalRecord:
    """One terminal of the hospital."""
    with ctx.uow() as uow:
        terminal = uow.tenants.terminal(terminal_id)
    if terminal is None or terminal.hospital_id != hospital_id:
        raise NotFound("no such terminal")
    return terminal


def list_staff(
    *, ctx: Storage, hospital_id: str, after: PageKey | None, limit: int
) -> Page[StaffUser]:
    """The hospital's staff users, disabled ones included (`active` False)."""
    with ctx.uow() as uow:
        rows = uow.tenants.staff_of(hospital_id, after=after, limit=limit + 1)
    return _page(rows, limit)


def get_staff(*, ctx: Storage, hospital_id: str, staff_id: str) -> StaffUser:
    """One staff user of the hospital."""
    with ctx.uow() as uow:
        user = uow.tenants.staff_by_id(staff_id)
    if user is None or user.hospital_id != hospital_id:
        raise NotFound("no such staff user")
    return user


def find_person(*, ctx: Storage, id_number: str, hospital_id: str | None) -> InsuredPerson | None:
    """The insured person with this ID number: for the platform (`hospital_id` None) anyone in
    the registry; for a hospital only a person it already knows as its patient (it posted a bill
    for them, or they enrolled or withdrew consent there), so that the lookup tells a hospital
    nothing its own records do not."""
    number = normalise_id_number(id_number)
    with ctx.uow() as uow:
        person = uow.people.by_id_number(number)
        if person is None or hospital_id is None:
            return person
        known = is_patient_of(uow, hospital_id, person.id)
    return person if known else None


def is_patient_of(uow: UnitOfWork, hospital_id: str, person_id: str) -> bool:
    """Whether the hospital knows the person as its patient: it posted a bill for them, they
    enrolled or withdrew consent there, or they are in one of its beds."""
    stay = uow.inpatient.open_stay_of_person(person_id)
    return (
        uow.bills.has_person(hospital_id, person_id)
        or bool(uow.consents.active(person_id, hospital_id))
        or bool(uow.consents.erasures(person_id, hospital_id))
        or (stay is not None and stay.hospital_id == hospital_id)
    )


def find_bill(*, ctx: Storage, hospital_id: str, external_ref: str) -> PostedBill | None:
    """The hospital's bill with this reference of the hospital system, if it posted one."""
    with ctx.uow() as uow:
        return uow.bills.by_external_ref(hospital_id, external_ref)


def list_settlements(
    *, ctx: Storage, hospital_id: str, after: PageKey | None, limit: int
) -> Page[SettlementRecord]:
    """The hospital's settlements, oldest first, with what each was computed from."""
    with ctx.uow() as uow:
        rows = uow.settlements.of_site(hospital_id, after=after, limit=limit + 1)
    return _page(rows, limit)


def get_settlement(*, ctx: Storage, hospital_id: str, settlement_id: str) -> SettlementRecord:
    """One settlement of the hospital (NotFound for another's, whether it exists or not)."""
    with ctx.uow() as uow:
        record = uow.settlements.get(settlement_id)
    if record is None or record.hospital_id != hospital_id:
        raise NotFound("no such settlement")
    return record
