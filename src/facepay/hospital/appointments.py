"""Appointments bound to the real person: schedules, slots, the site's booking policy, and the
pure decisions of booking, cancelling and checking in (no storage, no clock of its own).

A schedule is one session of one doctor of one department on one day, with `capacity` slots
numbered 1..n and a registration fee. A booking holds one slot for one person (the ID it was
booked under) and can never be transferred. A cancelled booking keeps holding its slot until
`release_at` (a random time drawn by the use case from the policy's window), or for ever when it
was cancelled after the session began: so a scalper cannot cancel and re-book a slot at a moment
they know, and a slot given up once the clinic has started is not sold twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from facepay.shared.errors import Conflict, InvalidInput

AppointmentStatus = Literal["booked", "checked_in", "cancelled"]
FEE_REF_PREFIX = "APT-"
"""The external reference of a booking's registration-fee bill: this prefix + the booking id."""
Channel = Literal["kiosk", "window", "desk", "his"]
"""Where a booking was made: a patient kiosk, a window camera, a staff desk, or the hospital
information system for its own channels (its app, its phone line), which verified the person."""
Period = Literal["am", "pm", "custom"]
PERIOD_TIMES: dict[str, tuple[time, time]] = {
    "am": (time(8, 0), time(12, 0)),
    "pm": (time(13, 30), time(17, 30)),
}
"""A morning or afternoon session's local start and end when no times are given."""
MAX_CAPACITY = 1_000
MAX_FEE_FEN = 1_000_000
"""Largest registration fee (10,000 yuan): far above any real one, below every face-pay limit."""


@dataclass(frozen=True)
class BookingPolicy:
    """A site's booking rules; `facepay.config.Settings` holds the defaults of every site."""

    per_department_day: int = 1
    """Bookings one person may hold in one department on one day."""
    per_week: int = 3
    """Bookings one person may hold across the site in one week (Monday to Sunday)."""
    release_min_seconds: int = 300
    release_max_seconds: int = 1_800
    """A cancelled slot returns to the pool after a random delay in this window."""
    cancel_cutoff_minutes: int = 0
    """A cancel at least this long before the session starts is timely (the fee is refunded)."""
    check_in_early_minutes: int = 120
    """How long before the session starts its patients may check in."""

    def __post_init__(self) -> None:
        for name in ("per_department_day", "per_week"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 50:
                raise InvalidInput(f"{name}: a whole number from 1 to 50", code="bad_policy")
        for name in (
            "release_min_seconds",
            "release_max_seconds",
            "cancel_cutoff_minutes",
            "check_in_early_minutes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 86_400:
                raise InvalidInput(f"{name}: a whole number from 0 to 86400", code="bad_policy")
        if self.release_min_seconds > self.release_max_seconds:
            raise InvalidInput(
                "release_min_seconds must not exceed release_max_seconds", code="bad_policy"
            )
        if self.per_department_day > self.per_week:
            raise InvalidInput("per_department_day must not exceed per_week", code="bad_policy")


@dataclass(frozen=True)
class FeeLine:
    """The registration fee as the bill line it becomes (code, name, class A/B/C, fen)."""

    code: str
    name: str
    item_class: Literal["A", "B", "C"]
    fee_fen: int

    def __post_init__(self) -> None:
        if self.item_class not in ("A", "B", "C"):
            raise InvalidInput("fee item_class: A, B or C", code="bad_schedule")
        if (
            isinstance(self.fee_fen, bool)
            or not isinstance(self.fee_fen, int)
            or not 0 <= self.fee_fen <= MAX_FEE_FEN
        ):
            raise InvalidInput(f"fee_fen: 0 to {MAX_FEE_FEN} fen", code="bad_schedule")
        for label, text in (("code", self.code), ("name", self.name)):
            if not text or not text.isprintable():
                raise InvalidInput(f"fee {label}: printable text", code="bad_schedule")


@dataclass(frozen=True)
class Schedule:
    """One session of a doctor of a department: local date and times, the same in UTC."""

    id: str
    hospital_id: str
    department: str
    doctor: str
    doctor_name: str
    session_date: date
    period: Period
    start_time: time
    end_time: time
    starts_at: datetime
    ends_at: datetime
    capacity: int
    fee: FeeLine
    hospital_tier: int
    created_at: datetime

    def __post_init__(self) -> None:
        if self.period not in ("am", "pm", "custom"):
            raise InvalidInput("period: am, pm or custom", code="bad_schedule")
        if not self.start_time < self.end_time:
            raise InvalidInput("a session ends after it starts", code="bad_schedule")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise InvalidInput("session times must be timezone-aware", code="bad_schedule")
        if (
            isinstance(self.capacity, bool)
            or not isinstance(self.capacity, int)
            or not 1 <= self.capacity <= MAX_CAPACITY
        ):
            raise InvalidInput(f"capacity: 1 to {MAX_CAPACITY} slots", code="bad_schedule")
        if self.hospital_tier not in (1, 2, 3):
            raise InvalidInput("hospital_tier: 1, 2 or 3", code="bad_schedule")
        for label, text in (("department", self.department), ("doctor", self.doctor)):
            if not text or not text.isprintable():
                raise InvalidInput(f"{label}: printable text", code="bad_schedule")


def session_times(
    session_date: date,
    period: Period,
    start: time | None,
    end: time | None,
    *,
    utc_offset: timedelta,
) -> tuple[time, time, datetime, datetime]:
    """The session's local start and end (the period's unless both are given) and the same
    moments in UTC, the hospital being `utc_offset` ahead of UTC."""
    if (start is None) != (end is None):
        raise InvalidInput("give both start_time and end_time, or neither", code="bad_schedule")
    for given in (start, end):
        if given is not None and (given.tzinfo is not None or given.second or given.microsecond):
            raise InvalidInput(
                "session times are local hours and minutes (HH:MM), no offset", code="bad_schedule"
            )
    if start is None or end is None:
        if period == "custom":
            raise InvalidInput(
                "a custom session needs start_time and end_time", code="bad_schedule"
            )
        start, end = PERIOD_TIMES[period]
    if not start < end:
        raise InvalidInput("a session ends after it starts", code="bad_schedule")

    def moment(at: time) -> datetime:
        return (datetime.combine(session_date, at) - utc_offset).replace(tzinfo=UTC)

    return start, end, moment(start), moment(end)


@dataclass(frozen=True)
class Appointment:
    """One person's booking of one slot; `person_id` is the booked person for good."""

    id: str
    hospital_id: str
    schedule_id: str
    person_id: str
    slot: int
    channel: Channel
    status: AppointmentStatus
    idempotency_key: str
    booked_at: datetime
    booked_by: str
    bill_id: str | None = None
    proxy_grant_id: str | None = None
    checked_in_at: datetime | None = None
    check_in_identification: str | None = None
    """The identification the check-in consumed: the same one again replays the check-in."""
    cancelled_at: datetime | None = None
    cancel_key: str | None = None
    release_at: datetime | None = None
    """When a cancelled booking gives its slot back; None while booked, or for ever once
    cancelled after the session began."""
    refunded: bool = False

    def holds_slot(self, now: datetime) -> bool:
        """Whether this booking keeps its slot out of the pool at `now`."""
        if self.status != "cancelled":
            return True
        return self.release_at is None or self.release_at > now

    @property
    def active(self) -> bool:
        """Booked or checked in: counts against the person's limits."""
        return self.status != "cancelled"


def free_slot(schedule: Schedule, appointments: Iterable[Appointment], now: datetime) -> int | None:
    """The lowest slot number nobody holds at `now` (None: the session is full)."""
    held = {a.slot for a in appointments if a.holds_slot(now)}
    return next((n for n in range(1, schedule.capacity + 1) if n not in held), None)


def available(schedule: Schedule, appointments: Iterable[Appointment], now: datetime) -> int:
    """How many slots are free at `now`."""
    held = {a.slot for a in appointments if a.holds_slot(now)}
    return schedule.capacity - len(held)


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of `day`'s week."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def check_limits(
    policy: BookingPolicy, schedule: Schedule, held: Iterable[tuple[Appointment, Schedule]]
) -> None:
    """Refuse a booking of `schedule` that would break the person's limits, given what the
    person already holds at the site (each active booking with its schedule)."""
    monday, sunday = week_of(schedule.session_date)
    same_week = [(a, s) for a, s in held if a.active and monday <= s.session_date <= sunday]
    if any(s.id == schedule.id for _, s in same_week):
        raise Conflict("you already hold a booking of this session", code="already_booked")
    same_day = [
        s
        for _, s in same_week
        if s.department == schedule.department and s.session_date == schedule.session_date
    ]
    if len(same_day) >= policy.per_department_day:
        raise Conflict(
            f"at most {policy.per_department_day} booking(s) per department and day",
            code="booking_limit_day",
        )
    if len(same_week) >= policy.per_week:
        raise Conflict(
            f"at most {policy.per_week} bookings per week at this hospital",
            code="booking_limit_week",
        )


def check_bookable(schedule: Schedule, now: datetime) -> None:
    """A session can be booked until it starts."""
    if now >= schedule.starts_at:
        raise Conflict(
            "the session has started: it can no longer be booked", code="session_started"
        )


@dataclass(frozen=True)
class CancelOutcome:
    """What a cancel at one moment means: whether the fee is refunded, whether the slot goes
    back to the pool (after the random delay)."""

    timely: bool
    release: bool


def cancel_outcome(policy: BookingPolicy, schedule: Schedule, now: datetime) -> CancelOutcome:
    """Timely until the cut-off before the start (refund); released only before the start."""
    cutoff = schedule.starts_at - timedelta(minutes=policy.cancel_cutoff_minutes)
    return CancelOutcome(timely=now < cutoff, release=now < schedule.starts_at)


def check_cancellable(appointment: Appointment) -> None:
    """Only a booking not yet used can be cancelled."""
    if appointment.status == "checked_in":
        raise Conflict("the patient has checked in already", code="appointment_checked_in")
    if appointment.status == "cancelled":
        raise Conflict("the booking is cancelled already", code="appointment_cancelled")


def check_check_in(
    policy: BookingPolicy, schedule: Schedule, appointment: Appointment, now: datetime
) -> None:
    """A booked appointment checks in from `check_in_early_minutes` before the start to the end."""
    if appointment.status == "cancelled":
        raise Conflict("the booking is cancelled", code="appointment_cancelled")
    if appointment.status == "checked_in":
        raise Conflict("the patient has checked in already", code="appointment_checked_in")
    if now < schedule.starts_at - timedelta(minutes=policy.check_in_early_minutes):
        raise Conflict("check-in has not opened yet for this session", code="check_in_not_open")
    if now >= schedule.ends_at:
        raise Conflict("the session is over", code="session_ended")
