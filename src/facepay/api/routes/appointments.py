"""Appointments bound to the person: the site's booking policy, sessions, bookings, cancels and
check-ins.

A booking names no person beyond the verified one: the patient is whoever the identification
identified (or, for a proxy, the `patient_id` the proxy's grant covers), and the HIS alone books
by ID number. There is no operation that changes a booking's person: bookings are not
transferable.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import Field

from facepay.access.rbac import Permission, Principal, PrincipalKind, TerminalKind
from facepay.api.access import may
from facepay.api.deps import IdempotencyKey, StateDep
from facepay.api.problems import errors
from facepay.api.routes.bills import BillRead, SplitRead, bill_read, split_read
from facepay.api.schemas import Id, PlainText, RequestModel, ResponseModel
from facepay.hospital import prompts
from facepay.hospital.appointments import MAX_CAPACITY, MAX_FEE_FEN, BookingPolicy, Channel, FeeLine
from facepay.services import appointments as service
from facepay.services import schedules
from facepay.services.appointments import AppointmentView
from facepay.services.schedules import ScheduleView
from facepay.shared.errors import Forbidden

router = APIRouter(tags=["appointments"])
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Count = Annotated[int, Field(strict=True, ge=1, le=50)]
Seconds = Annotated[int, Field(strict=True, ge=0, le=86_400)]


class BookingPolicyCreate(RequestModel):
    """The site's booking rules (every field; the settings' defaults apply until set)."""

    per_department_day: Count
    per_week: Count
    release_min_seconds: Seconds
    release_max_seconds: Seconds
    cancel_cutoff_minutes: Seconds
    check_in_early_minutes: Seconds


class BookingPolicyRead(ResponseModel):
    """The booking rules in force at the caller's site."""

    per_department_day: int
    per_week: int
    release_min_seconds: int
    release_max_seconds: int
    cancel_cutoff_minutes: int
    check_in_early_minutes: int


class ScheduleCreate(RequestModel):
    """A doctor's session: local date, am / pm (or custom times), slots, registration fee."""

    department: Code
    doctor: Code
    doctor_name: Annotated[PlainText, Field(min_length=1, max_length=60)]
    session_date: date
    period: Literal["am", "pm", "custom"]
    start_time: time | None = None
    end_time: time | None = None
    capacity: Annotated[int, Field(strict=True, ge=1, le=MAX_CAPACITY)]
    fee_fen: Annotated[int, Field(strict=True, ge=0, le=MAX_FEE_FEN)]
    fee_code: Code = "REG"
    fee_name: Annotated[PlainText, Field(min_length=1, max_length=60)] = "Registration fee"
    fee_item_class: Literal["A", "B", "C"] = "A"
    hospital_tier: Annotated[int, Field(strict=True, ge=1, le=3)] | None = None
    """Only for a site registered without a tier; otherwise the site's own tier applies."""


class ScheduleRead(ResponseModel):
    """A session and its free slots now."""

    id: str
    department: str
    doctor: str
    doctor_name: str
    session_date: date
    period: str
    start_time: str
    end_time: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    available: int
    fee_fen: int
    fee_code: str
    fee_name: str
    fee_item_class: str
    hospital_tier: int


class SchedulePage(ResponseModel):
    """A day's sessions."""

    items: list[ScheduleRead]


class AppointmentCreate(RequestModel):
    """Book the first free slot of a session for a verified person."""

    schedule_id: Id
    identification_id: Id | None = None
    """An unused identification of this site: the patient's, or their proxy's."""
    patient_id: Id | None = None
    """Only when a proxy books for the patient they hold a grant for."""
    id_number: (
        Annotated[str, Field(min_length=18, max_length=18, pattern=r"^\d{17}[\dXx]$")] | None
    ) = None
    """Only from the hospital information system, for its own channels."""


class CancellationCreate(RequestModel):
    """Cancel with the booked patient (or proxy) identified; the HIS may cancel without."""

    identification_id: Id | None = None


class AppointmentCheckInCreate(RequestModel):
    """Check in with a fresh identification of the booked person."""

    identification_id: Id


class AppointmentRead(ResponseModel):
    """A booking, its session and its registration bill."""

    id: str
    person_id: str
    schedule: ScheduleRead
    slot: int
    channel: str
    status: Literal["booked", "checked_in", "cancelled"]
    booked_at: datetime
    proxy_grant_id: str | None
    checked_in_at: datetime | None
    cancelled_at: datetime | None
    release_at: datetime | None
    """When a cancelled slot returns to the pool (None: never, or not cancelled)."""
    refunded: bool
    bill: BillRead | None
    settlement: SplitRead | None = None
    """The fee's split when this call paid it."""
    refunded_fen: int | None = None
    """What this call (a timely cancel) refunded."""
    replayed: bool = False
    prompt: str = ""
    """One short sentence for the patient's screen and the kiosk's voice."""


def schedule_read(view: ScheduleView) -> ScheduleRead:
    """The API form of a session."""
    s = view.schedule
    return ScheduleRead(
        id=s.id,
        department=s.department,
        doctor=s.doctor,
        doctor_name=s.doctor_name,
        session_date=s.session_date,
        period=s.period,
        start_time=s.start_time.strftime("%H:%M"),
        end_time=s.end_time.strftime("%H:%M"),
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        capacity=s.capacity,
        available=view.available,
        fee_fen=s.fee.fee_fen,
        fee_code=s.fee.code,
        fee_name=s.fee.name,
        fee_item_class=s.fee.item_class,
        hospital_tier=s.hospital_tier,
    )


def appointment_read(view: AppointmentView, available: int) -> AppointmentRead:
    """The API form of a booking."""
    a = view.appointment
    return AppointmentRead(
        id=a.id,
        person_id=a.person_id,
        schedule=schedule_read(ScheduleView(view.schedule, available)),
        slot=a.slot,
        channel=a.channel,
        status=a.status,
        booked_at=a.booked_at,
        proxy_grant_id=a.proxy_grant_id,
        checked_in_at=a.checked_in_at,
        cancelled_at=a.cancelled_at,
        release_at=a.release_at,
        refunded=a.refunded,
        bill=bill_read(view.bill) if view.bill else None,
        settlement=split_read(view.receipt.record.settlement) if view.receipt else None,
        refunded_fen=view.refund.refunded_fen if view.refund else None,
        replayed=view.replayed,
        prompt=_prompt(view),
    )


def _prompt(view: AppointmentView) -> str:
    a, s = view.appointment, view.schedule
    if a.status == "booked":
        return prompts.booked(s.doctor_name, s.session_date, s.period, a.slot)
    return prompts.appointment(a.status, s.doctor_name, a.refunded)


def channel_of(who: Principal) -> Channel:
    """The booking channel of a caller: its terminal kind, or a staff desk."""
    if who.kind is PrincipalKind.STAFF:
        return "desk"
    kinds: dict[TerminalKind | None, Channel] = {
        TerminalKind.KIOSK: "kiosk",
        TerminalKind.WINDOW: "window",
        TerminalKind.HIS: "his",
    }
    channel = kinds.get(who.terminal_kind)
    if channel is None:
        raise Forbidden("this terminal does not take bookings", code="permission_denied")
    return channel


def _with_availability(state: StateDep, who: Principal, view: AppointmentView) -> AppointmentRead:
    free = schedules.get_schedule(
        ctx=state.services, hospital_id=who.hospital, schedule_id=view.schedule.id
    ).available
    return appointment_read(view, free)


@router.get(
    "/v1/appointment-policy",
    response_model=BookingPolicyRead,
    responses=errors(401, 403, 422, 429),
)
def get_policy(
    state: StateDep, who: Annotated[Principal, may(Permission.APPOINTMENT_READ)]
) -> BookingPolicyRead:
    """The booking rules in force at the caller's site."""
    policy = schedules.get_policy(ctx=state.services, hospital_id=who.hospital)
    return BookingPolicyRead(**policy.__dict__)


@router.put(
    "/v1/appointment-policy",
    response_model=BookingPolicyRead,
    responses=errors(401, 403, 413, 422, 429),
)
def put_policy(
    body: BookingPolicyCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_SCHEDULE)],
) -> BookingPolicyRead:
    """Set the site's own limits, release window, cancel cut-off and check-in opening."""
    policy = schedules.set_policy(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        policy=BookingPolicy(**body.model_dump()),
    )
    return BookingPolicyRead(**policy.__dict__)


@router.post(
    "/v1/schedules",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleRead,
    responses=errors(401, 403, 409, 413, 422, 429),
)
def open_schedule(
    body: ScheduleCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_SCHEDULE)],
) -> ScheduleRead:
    """Open a doctor's session with its slots and registration fee."""
    schedule = schedules.open_schedule(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        department=body.department,
        doctor=body.doctor,
        doctor_name=body.doctor_name,
        session_date=body.session_date,
        period=body.period,
        start_time=body.start_time,
        end_time=body.end_time,
        capacity=body.capacity,
        fee=FeeLine(body.fee_code, body.fee_name, body.fee_item_class, body.fee_fen),
        hospital_tier=body.hospital_tier,
    )
    return schedule_read(ScheduleView(schedule, schedule.capacity))


@router.get("/v1/schedules", response_model=SchedulePage, responses=errors(401, 403, 422, 429))
def list_schedules(
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_READ)],
    session_date: Annotated[date, Query(alias="date", description="The local day")],
    department: Annotated[Code | None, Query()] = None,
) -> SchedulePage:
    """A day's sessions at the caller's site (of one department), with their free slots."""
    found = schedules.list_schedules(
        ctx=state.services,
        hospital_id=who.hospital,
        session_date=session_date,
        department=department,
    )
    return SchedulePage(items=[schedule_read(view) for view in found])


@router.get(
    "/v1/schedules/{schedule_id}",
    response_model=ScheduleRead,
    responses=errors(401, 403, 404, 422, 429),
)
def get_schedule(
    schedule_id: Id, state: StateDep, who: Annotated[Principal, may(Permission.APPOINTMENT_READ)]
) -> ScheduleRead:
    """One session of the caller's site with its free slots."""
    view = schedules.get_schedule(
        ctx=state.services, hospital_id=who.hospital, schedule_id=schedule_id
    )
    return schedule_read(view)


@router.post(
    "/v1/appointments",
    status_code=status.HTTP_201_CREATED,
    response_model=AppointmentRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def book(
    body: AppointmentCreate,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_BOOK)],
) -> AppointmentRead:
    """Book a slot for the identified patient (paying the fee now), or from the HIS by ID number
    (the fee stays open); once per key."""
    view = service.book(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        channel=channel_of(who),
        schedule_id=body.schedule_id,
        idempotency_key=f"{who.hospital}:{key}",
        identification_id=body.identification_id,
        patient_id=body.patient_id,
        id_number=body.id_number,
        staff_confirmed=who.kind is PrincipalKind.STAFF,
    )
    return _with_availability(state, who, view)


@router.get(
    "/v1/appointments/{appointment_id}",
    response_model=AppointmentRead,
    responses=errors(401, 403, 404, 422, 429),
)
def get_appointment(
    appointment_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_READ)],
) -> AppointmentRead:
    """One booking of the caller's site."""
    view = service.get_appointment(
        ctx=state.services, hospital_id=who.hospital, appointment_id=appointment_id
    )
    return _with_availability(state, who, view)


@router.post(
    "/v1/appointments/{appointment_id}/cancel",
    response_model=AppointmentRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def cancel(
    appointment_id: Id,
    body: CancellationCreate,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_CANCEL)],
) -> AppointmentRead:
    """Cancel a booking: refunded if timely; the slot returns to the pool after a random delay,
    never once the session has begun."""
    view = service.cancel(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        channel=channel_of(who),
        appointment_id=appointment_id,
        idempotency_key=f"{who.hospital}:{key}",
        identification_id=body.identification_id,
        staff_confirmed=who.kind is PrincipalKind.STAFF,
    )
    return _with_availability(state, who, view)


@router.post(
    "/v1/appointments/{appointment_id}/check-in",
    response_model=AppointmentRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def check_in(
    appointment_id: Id,
    body: AppointmentCheckInCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_CHECK_IN)],
) -> AppointmentRead:
    """Check in the booked person (1:1 face, or card with staff confirmation); an unpaid fee is
    paid now when the caller may take payments."""
    granted = state.access.policy.permissions(who)
    view = service.check_in(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        channel=channel_of(who),
        appointment_id=appointment_id,
        identification_id=body.identification_id,
        staff_confirmed=who.kind is PrincipalKind.STAFF,
        may_pay=Permission.PAYMENT_SETTLE in granted,
    )
    return _with_availability(state, who, view)
