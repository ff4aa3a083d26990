"""What a hospital system reads of its own site: patients, coverage, bills, settlements.

Every read is inside the caller's site: a person is found only if they are the site's patient
(facepay.services.lookups.is_patient_of), a bill or settlement only if it is the site's; anything
else is NotFound, whether it exists or not. Listings are bounded pages (RecordQuery.limit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from facepay.hospital.appointments import Appointment, Schedule
from facepay.hospital.bills import PostedBill
from facepay.hospital.inpatient import Stay
from facepay.hospital.orders import DispensingLine, DispensingOrder, ServiceRequest
from facepay.hospital.tenants import Hospital, Region
from facepay.identity.records import InsuredPerson
from facepay.services.context import Storage
from facepay.services.his_events import HisEvent, as_event
from facepay.services.lookups import find_person, is_patient_of
from facepay.services.ports import SettlementRecord
from facepay.services.repositories import PageKey, RecordQuery
from facepay.services.support import require_hospital
from facepay.shared.errors import InvalidInput, NotFound

MAX_PAGE = 500
MAX_SCAN = 2_000
"""Most dispensing orders one search of drug lines reads before it answers a short page."""


@dataclass(frozen=True)
class Site:
    """The caller's site and its region (the bureau that pays its patients' fund parts)."""

    hospital: Hospital
    region: Region | None


def site(*, ctx: Storage, hospital_id: str) -> Site:
    """The site and its region."""
    with ctx.uow() as uow:
        hospital = require_hospital(uow, hospital_id)
        return Site(hospital, uow.tenants.region(hospital.region_id))


def patient(*, ctx: Storage, hospital_id: str, person_id: str) -> InsuredPerson:
    """One of the site's patients."""
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        person = uow.people.get(person_id)
        if person is None or not is_patient_of(uow, hospital_id, person.id):
            raise NotFound("no such patient")
    return person


def patient_by_id_number(*, ctx: Storage, hospital_id: str, id_number: str) -> InsuredPerson | None:
    """The site's patient with this ID number (None: none, or not the site's patient)."""
    try:
        return find_person(ctx=ctx, id_number=id_number, hospital_id=hospital_id)
    except InvalidInput:
        return None  # not an ID number: nobody has it


def bill(*, ctx: Storage, hospital_id: str, bill_id: str) -> PostedBill:
    """One of the site's bills."""
    with ctx.uow() as uow:
        found = uow.bills.get(bill_id, hospital_id)
    if found is None:
        raise NotFound("no such bill")
    return found


def bill_by_ref(*, ctx: Storage, hospital_id: str, external_ref: str) -> PostedBill | None:
    """The site's bill posted under the hospital system's reference."""
    with ctx.uow() as uow:
        return uow.bills.by_external_ref(hospital_id, external_ref)


def bills(*, ctx: Storage, query: RecordQuery) -> list[PostedBill]:
    """A page of the site's bills (at most MAX_PAGE)."""
    with ctx.uow() as uow:
        return uow.bills.search(_bounded(query))


def settlement(*, ctx: Storage, hospital_id: str, settlement_id: str) -> SettlementRecord:
    """One of the site's settlements."""
    with ctx.uow() as uow:
        record = uow.settlements.get(settlement_id)
    if record is None or record.hospital_id != hospital_id:
        raise NotFound("no such settlement")
    return record


def settlements(*, ctx: Storage, query: RecordQuery) -> list[SettlementRecord]:
    """A page of the site's settlements, by when they were made or reversed (`query.on`)."""
    with ctx.uow() as uow:
        return uow.settlements.search(_bounded(query))


def event(*, ctx: Storage, hospital_id: str, seq: int) -> HisEvent | None:
    """The site's outbox event at chain position `seq` (None if that entry is no event)."""
    with ctx.uow() as uow:
        entry = uow.audit.entry(hospital_id, seq)
    return as_event(entry, hospital_id) if entry is not None else None


def day_of_site(
    *, ctx: Storage, hospital_id: str, start: datetime, end: datetime, max_records: int
) -> tuple[list[SettlementRecord], list[SettlementRecord]]:
    """The settlements the site made and those it reversed in [start, end), read a page at a
    time; more than `max_records` in all is refused (422) rather than held in memory."""
    found: list[list[SettlementRecord]] = [[], []]
    times: tuple[Literal["created", "reversed"], ...] = ("created", "reversed")
    for n, on in enumerate(times):
        after = None
        while True:
            query = RecordQuery(
                hospital_id, since=start, until=end, after=after, limit=MAX_PAGE, on=on
            )
            with ctx.uow() as uow:
                page = uow.settlements.search(query)
            found[n].extend(page)
            if len(found[0]) + len(found[1]) > max_records:
                raise InvalidInput(
                    f"more than {max_records} settlements and reversals on one day: "
                    "read them as Claim searches by date instead",
                    code="fhir_day_too_large",
                )
            if len(page) < MAX_PAGE:
                break
            last = page[-1]
            when = last.created_at if on == "created" else last.reversed_at
            assert when is not None
            after = (when, last.id)
    return found[0], found[1]


def stay(*, ctx: Storage, hospital_id: str, stay_id: str) -> Stay:
    """One of the site's inpatient stays."""
    with ctx.uow() as uow:
        found = uow.inpatient.stay(stay_id, hospital_id)
    if found is None:
        raise NotFound("no such stay")
    return found


def open_stay(*, ctx: Storage, hospital_id: str, person_id: str) -> Stay | None:
    """The person's open stay, if it is at this site."""
    with ctx.uow() as uow:
        found = uow.inpatient.open_stay_of_person(person_id)
    return found if found is not None and found.hospital_id == hospital_id else None


def service_request(*, ctx: Storage, hospital_id: str, request_id: str) -> ServiceRequest:
    """One of the site's exam or lab requests (its result only through exams.read_result)."""
    with ctx.uow() as uow:
        found = uow.orders.request(request_id, hospital_id)
    if found is None:
        raise NotFound("no such service request")
    return found


def service_requests_of(
    *, ctx: Storage, hospital_id: str, person_id: str, limit: int
) -> list[ServiceRequest]:
    """A patient's latest requests at this site, newest first."""
    with ctx.uow() as uow:
        return uow.orders.requests_of_person(hospital_id, person_id, limit=min(limit, MAX_PAGE))


@dataclass(frozen=True)
class DrugLine:
    """Line `number` (1-based) of a dispensing order, with the bill it came from (None if the
    bill is gone): one MedicationRequest and its MedicationDispense."""

    order: DispensingOrder
    number: int
    bill: PostedBill | None

    @property
    def line(self) -> DispensingLine:
        """The order's line."""
        return self.order.lines[self.number - 1]

    @property
    def key(self) -> PageKey:
        """Its place in a search: (order time, `<order id>.<number, 4 digits>`)."""
        return line_key(self.order, self.number)


def line_key(order: DispensingOrder, number: int) -> PageKey:
    """The page key of line `number` of `order`."""
    return order.created_at, f"{order.id}.{number:04d}"


def drug_line(*, ctx: Storage, hospital_id: str, order_id: str, number: int) -> DrugLine:
    """Line `number` of one of the site's dispensing orders."""
    with ctx.uow() as uow:
        order = uow.orders.dispensing(order_id, hospital_id)
        if order is None or not 1 <= number <= len(order.lines):
            raise NotFound("no such medication request")
        return DrugLine(order, number, uow.bills.get(order.bill_id, hospital_id))


def drug_lines(
    *,
    ctx: Storage,
    query: RecordQuery,
    keep: Callable[[DispensingLine], bool],
    after: PageKey | None,
    limit: int,
) -> tuple[list[DrugLine], PageKey | None]:
    """Up to `limit` lines of the site's orders matching `query` (person, order statuses, time
    range) whose line `keep` admits, after the page key `after`, in key order; and the key to
    go on from (None: nothing is left). At most MAX_SCAN orders are read: a search whose
    filter skips that many answers a short page whose next page goes on from there."""
    limit = max(1, min(limit, MAX_PAGE))
    query = replace(query, after=None, before=None)  # `after` is a line's key, not an order's
    found: list[DrugLine] = []
    scanned = 0
    resume: PageKey | None = None
    with ctx.uow() as uow:
        bills: dict[str, PostedBill | None] = {}

        def take(order: DispensingOrder, start: int) -> None:
            for number in range(start, len(order.lines) + 1):
                if len(found) > limit:
                    return  # enough (the extra one says there is more)
                if keep(order.lines[number - 1]):
                    if order.bill_id not in bills:  # read once, and only for a line shown
                        bills[order.bill_id] = uow.bills.get(order.bill_id, query.hospital_id)
                    found.append(DrugLine(order, number, bills[order.bill_id]))

        order_after: PageKey | None = None
        if after is not None:
            order_id, _, number = after[1].rpartition(".")
            first = uow.orders.dispensing(order_id, query.hospital_id) if number.isdigit() else None
            if (
                first is not None
                and query.admits(
                    (first.created_at, first.id), person_id=first.person_id, status=first.status
                )
                and first.created_at == after[0]
            ):
                take(first, int(number) + 1)
            order_after = (after[0], order_id)
        while len(found) <= limit:
            chunk = min(MAX_PAGE, limit + 1)
            page = uow.orders.search_dispensing(
                replace(query, after=order_after, before=None, limit=chunk)
            )
            for order in page:
                take(order, 1)
            scanned += len(page)
            if len(page) < chunk:
                break
            order_after = (page[-1].created_at, page[-1].id)
            if scanned >= MAX_SCAN and len(found) <= limit:
                resume = line_key(page[-1], 9999)
                break
    if len(found) > limit:
        return found[:limit], found[limit - 1].key
    return found, resume


def appointment(
    *, ctx: Storage, hospital_id: str, appointment_id: str
) -> tuple[Appointment, Schedule]:
    """One booking of the site, with its session."""
    with ctx.uow() as uow:
        found = uow.appointments.get(appointment_id, hospital_id)
        session = uow.appointments.schedule(found.schedule_id, hospital_id) if found else None
    if found is None or session is None:
        raise NotFound("no such appointment")
    return found, session


def slot(*, ctx: Storage, hospital_id: str, schedule_id: str, number: int) -> tuple[Schedule, bool]:
    """A session of the site and whether a booking holds its slot `number` now."""
    with ctx.uow() as uow:
        session = uow.appointments.schedule(schedule_id, hospital_id)
        if session is None or not 1 <= number <= session.capacity:
            raise NotFound("no such slot")
        bookings = uow.appointments.of_schedules([session.id]).get(session.id, [])
    now = ctx.clock.now()
    return session, any(b.slot == number and b.holds_slot(now) for b in bookings)


def appointments(*, ctx: Storage, query: RecordQuery) -> list[tuple[Appointment, Schedule]]:
    """A page of the site's bookings with their sessions, by session start (at most MAX_PAGE)."""
    with ctx.uow() as uow:
        return uow.appointments.search(_bounded(query))


@dataclass(frozen=True)
class SessionSlot:
    """Slot `number` of a session, and whether a booking holds it now."""

    schedule: Schedule
    number: int
    held: bool

    @property
    def key(self) -> PageKey:
        """Its place in a search: (session start, `<session id>.<number, 4 digits>`)."""
        return self.schedule.starts_at, f"{self.schedule.id}.{self.number:04d}"


def slots(
    *,
    ctx: Storage,
    query: RecordQuery,
    held: bool | None,
    after: PageKey | None,
    limit: int,
) -> tuple[list[SessionSlot], PageKey | None]:
    """Up to `limit` slots of the site's sessions starting in the query's time range, busy
    (`held`), free (not `held`) or either (None), after the page key `after`; and the key to
    go on from (None: nothing is left). At most MAX_SCAN sessions are read per call."""
    limit = max(1, min(limit, MAX_PAGE))
    query = replace(query, after=None, before=None)  # `after` is a slot's key, not a session's
    found: list[SessionSlot] = []
    now = ctx.clock.now()
    start_after = 0
    session_after: PageKey | None = None
    if after is not None:
        session_id, _, tail = after[1].rpartition(".")
        session_after = (after[0], session_id)
        start_after = int(tail) if tail.isdigit() and len(tail) <= 4 else 0
    scanned = 0
    with ctx.uow() as uow:
        first = None
        if session_after is not None:
            first = uow.appointments.schedule(session_after[1], query.hospital_id)
            if first is not None and (
                first.starts_at != session_after[0]
                or not query.admits((first.starts_at, first.id), person_id="", status="")
            ):
                first = None
        while len(found) <= limit:
            chunk = min(MAX_PAGE, limit + 1)
            page = uow.appointments.search_schedules(
                replace(query, after=session_after, before=None, limit=chunk)
            )
            sessions = ([first] if first is not None else []) + page
            bookings = uow.appointments.of_schedules([x.id for x in sessions])
            for session in sessions:
                taken = {b.slot for b in bookings.get(session.id, []) if b.holds_slot(now)}
                begin = start_after + 1 if session is first else 1
                for number in range(begin, session.capacity + 1):
                    if len(found) > limit:
                        break  # enough (the extra one says there is more)
                    if held is None or (number in taken) == held:
                        found.append(SessionSlot(session, number, number in taken))
            first = None
            scanned += len(page)
            if len(page) < chunk:
                break
            session_after = (page[-1].starts_at, page[-1].id)
            if scanned >= MAX_SCAN and len(found) <= limit:
                return found, (page[-1].starts_at, f"{page[-1].id}.9999")
    if len(found) > limit:
        return found[:limit], found[limit - 1].key
    return found, None


def _bounded(query: RecordQuery) -> RecordQuery:
    return replace(query, limit=max(0, min(query.limit, MAX_PAGE)))
