"""Read-only lookups for integrators: a hospital's terminals and staff, insured persons by ID
number (POSTed in the body: an ID number never goes into a URL), bills by the hospital
system's `external_ref`.

Every lookup answers inside the caller's hospital only: another hospital's terminal, staff user
or bill is a 404, exactly as an id that does not exist. Every answer is a page
`{"items": [...], "next": cursor | null}` (facepay.api.pagination): `limit` 1-200 (default 50),
`after` the previous page's `next`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query
from pydantic import Field

from facepay.access.rbac import Permission, Principal
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.pagination import After, Limit, decode_cursor, encode_cursor
from facepay.api.problems import errors
from facepay.api.routes.admin import (
    InsuredPersonRead,
    StaffRead,
    TerminalRead,
    insured_person_read,
    staff_read,
    terminal_read,
)
from facepay.api.routes.bills import BillRead, Code, bill_read
from facepay.api.schemas import Id, RequestModel, ResponseModel
from facepay.services import lookups
from facepay.services.repositories import PageKey

router = APIRouter(prefix="/v1", tags=["lookups"])
T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TerminalPage(ResponseModel):
    """A page of the hospital's terminals."""

    items: list[TerminalRead]
    next: str | None


class StaffPage(ResponseModel):
    """A page of the hospital's staff users."""

    items: list[StaffRead]
    next: str | None


class InsuredPersonSearchCreate(RequestModel):
    """Whom to look up: an 18-character resident ID number."""

    id_number: Annotated[str, Field(min_length=18, max_length=18, pattern=r"^\d{17}[\dXx]$")]


class InsuredPersonPage(ResponseModel):
    """The insured person with the ID number asked for, if the caller may see them."""

    items: list[InsuredPersonRead]
    next: str | None


class BillPage(ResponseModel):
    """The hospital's bill with the reference asked for, if it posted one."""

    items: list[BillRead]
    next: str | None


def _at_most_one(listing: str, found: T | None, key: PageKey, after: str | None) -> list[T]:
    """The page of a lookup by a unique key (`limit` is at least 1, so the row always fits):
    the row, unless the cursor is past it."""
    start = decode_cursor(listing, after)
    if found is None or (start is not None and key <= start):
        return []
    return [found]


@router.get("/terminals", response_model=TerminalPage, responses=errors(400, 401, 403, 422, 429))
def list_terminals(
    state: StateDep,
    who: Annotated[Principal, may(Permission.TERMINAL_READ, terminals=False)],
    limit: Limit = 50,
    after: After = None,
) -> TerminalPage:
    """The terminals of the caller's hospital, revoked ones included (`active` false), each
    with its `kind` (kiosk, window or his) and its public key's fingerprint; never a private
    key.

    Paged: at most `limit` items (1-200, default 50) in registration order (then id); `next` is
    a cursor to send back as `after` for the following page, null on the last one."""
    page = lookups.list_terminals(
        ctx=state.services,
        hospital_id=who.hospital,
        after=decode_cursor("terminals", after),
        limit=limit,
    )
    return TerminalPage(
        items=[terminal_read(t) for t in page.items], next=encode_cursor("terminals", page.next)
    )


@router.get(
    "/terminals/{terminal_id}",
    response_model=TerminalRead,
    responses=errors(401, 403, 404, 422, 429),
)
def get_terminal(
    terminal_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.TERMINAL_READ, terminals=False)],
) -> TerminalRead:
    """One terminal of the caller's hospital (another hospital's is 404)."""
    found = lookups.get_terminal(
        ctx=state.services, hospital_id=who.hospital, terminal_id=terminal_id
    )
    return terminal_read(found)


@router.get("/staff", response_model=StaffPage, responses=errors(400, 401, 403, 422, 429))
def list_staff(
    state: StateDep,
    who: Annotated[Principal, may(Permission.STAFF_READ, terminals=False)],
    limit: Limit = 50,
    after: After = None,
) -> StaffPage:
    """The staff users of the caller's hospital, disabled ones included (`active` false), with
    their role; never a password hash.

    Paged: at most `limit` items (1-200, default 50) in creation order (then id); `next` is a
    cursor to send back as `after` for the following page, null on the last one."""
    page = lookups.list_staff(
        ctx=state.services,
        hospital_id=who.hospital,
        after=decode_cursor("staff", after),
        limit=limit,
    )
    return StaffPage(
        items=[staff_read(u) for u in page.items], next=encode_cursor("staff", page.next)
    )


@router.get(
    "/staff/{staff_id}", response_model=StaffRead, responses=errors(401, 403, 404, 422, 429)
)
def get_staff(
    staff_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.STAFF_READ, terminals=False)],
) -> StaffRead:
    """One staff user of the caller's hospital (another hospital's is 404)."""
    return staff_read(
        lookups.get_staff(ctx=state.services, hospital_id=who.hospital, staff_id=staff_id)
    )


@router.post(
    "/insured-persons/search",
    response_model=InsuredPersonPage,
    responses=errors(400, 401, 403, 413, 422, 429),
)
def find_insured_person(
    body: InsuredPersonSearchCreate,
    state: StateDep,
    who: Annotated[
        Principal,
        may(Permission.PATIENT_READ, Permission.REGISTRY_READ, any_of=True, terminals=False),
    ],
    limit: Limit = 50,
    after: After = None,
) -> InsuredPersonPage:
    """The insured person with this ID number, the ID number masked (`110101********1234`).
    The number travels in the body, never in the URL, so that no proxy or access log keeps it.

    The platform operator looks up anyone in the registry. A hospital's staff find only a
    person who is already the hospital's patient: one it posted a bill for, or who enrolled
    (or withdrew consent) there. Anyone else - registered or not - is an empty page, so the
    lookup tells a hospital nothing its own records do not; whether a person is insured at all
    a hospital learns only through the identification flows.

    A page like every lookup's (`limit`, `after`), of at most one item: `next` is always null."""
    person = lookups.find_person(
        ctx=state.services, id_number=body.id_number, hospital_id=who.hospital_id
    )
    key = (_EPOCH, person.id) if person else (_EPOCH, "")
    found = _at_most_one("insured-persons", person, key, after)
    return InsuredPersonPage(items=[insured_person_read(p) for p in found], next=None)


@router.get("/bills", response_model=BillPage, responses=errors(400, 401, 403, 422, 429))
def find_bill(
    external_ref: Annotated[
        Code, Query(description="The reference the hospital system posted the bill under")
    ],
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    limit: Limit = 50,
    after: After = None,
) -> BillPage:
    """The bill of the caller's hospital posted under this `external_ref` by its hospital
    system; another hospital's bills are never found (an empty page, as for no bill).

    A page like every lookup's (`limit`, `after`), of at most one item: `next` is always null."""
    bill = lookups.find_bill(
        ctx=state.services, hospital_id=who.hospital, external_ref=external_ref
    )
    key = (bill.created_at, bill.id) if bill else (_EPOCH, "")
    found = _at_most_one("bills", bill, key, after)
    return BillPage(items=[bill_read(b) for b in found], next=None)
