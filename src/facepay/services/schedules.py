"""The booking side a site's admin runs: its booking policy and its sessions (schedules).

Session dates and times are the hospital's local time (`hospital_utc_offset_minutes` ahead of
UTC); each schedule also stores its start and end in UTC, which every decision compares with
the clock. Free slots are worked out from the bookings whenever they are read: a cancelled
slot whose random release time has passed is free again without any background job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

from facepay.hospital.appointments import (
    BookingPolicy,
    FeeLine,
    Period,
    Schedule,
    available,
    session_times,
)
from facepay.hospital.tenants import Hospital
from facepay.services.context import Services
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import InvalidInput, NotFound
from facepay.shared.ids import new_id

MAX_SCHEDULES = 500
"""Most sessions one listing returns (a day of a large hospital has a few hundred)."""
BOOKING_HORIZON = timedelta(days=366)
"""How far ahead a session may be opened."""
TIER_NUMBERS = {"primary": 1, "secondary": 2, "tertiary": 3}


@dataclass(frozen=True)
class ScheduleView:
    """A session and how many of its slots are free now."""

    schedule: Schedule
    available: int


def default_policy(ctx: Services) -> BookingPolicy:
    """The settings' booking policy, for every site without its own."""
    s = ctx.settings
    return BookingPolicy(
        per_department_day=s.appointment_per_department_day,
        per_week=s.appointment_per_week,
        release_min_seconds=s.appointment_release_min_seconds,
        release_max_seconds=s.appointment_release_max_seconds,
        cancel_cutoff_minutes=s.appointment_cancel_cutoff_minutes,
        check_in_early_minutes=s.appointment_check_in_early_minutes,
    )


def site_policy(ctx: Services, uow: UnitOfWork, hospital_id: str) -> BookingPolicy:
    """The site's own booking policy, else the settings' defaults."""
    return uow.appointments.policy(hospital_id) or default_policy(ctx)


def get_policy(*, ctx: Services, hospital_id: str) -> BookingPolicy:
    """The booking policy in force at the caller's site."""
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        return site_policy(ctx, uow, hospital_id)


def set_policy(
    *, ctx: Services, hospital_id: str, actor: str, policy: BookingPolicy
) -> BookingPolicy:
    """Give the site its own booking policy (it applies to bookings made from now on)."""
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        uow.appointments.set_policy(hospital_id, policy, at=ctx.clock.now())
        audit(
            ctx,
            uow,
            actor=actor,
            action="appointment.policy",
            subject=hospital_id,
            details={"hospital": hospital_id, **policy.__dict__},
        )
        uow.commit()
    return policy


def bill_tier(site: Hospital, asked: int | None) -> int:
    """The hospital tier the registration bill is settled at: the site's own; a site registered
    without a tier names it on the schedule."""
    own = TIER_NUMBERS.get(site.tier) if site.tier else None
    if own is not None:
        if asked is not None and asked != own:
            raise InvalidInput(
                f"this hospital is of tier {own}; the schedule cannot say {asked}",
                code="bad_schedule",
            )
        return own
    if asked is None:
        raise InvalidInput(
            "this site has no registered tier: give hospital_tier (1, 2 or 3)",
            code="bad_schedule",
        )
    return asked


def open_schedule(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    department: str,
    doctor: str,
    doctor_name: str,
    session_date: date,
    period: Period,
    capacity: int,
    fee: FeeLine,
    start_time: time | None = None,
    end_time: time | None = None,
    hospital_tier: int | None = None,
) -> Schedule:
    """Open a doctor's session with `capacity` slots and its registration fee."""
    now = ctx.clock.now()
    offset = timedelta(minutes=ctx.settings.hospital_utc_offset_minutes)
    local_today = (now + offset).date()
    if not local_today - timedelta(days=1) <= session_date <= local_today + BOOKING_HORIZON:
        raise InvalidInput(
            f"session_date: from today to {BOOKING_HORIZON.days} days ahead", code="bad_schedule"
        )
    start, end, starts_at, ends_at = session_times(
        session_date, period, start_time, end_time, utc_offset=offset
    )
    if ends_at <= now:
        raise InvalidInput("the session is over already", code="bad_schedule")
    if fee.fee_fen >= ctx.settings.face_pay_limit_fen:
        raise InvalidInput(
            "a registration fee must stay below the face-payment limit", code="bad_schedule"
        )
    with ctx.uow() as uow:
        site = require_hospital(uow, hospital_id)
        schedule = Schedule(
            id=new_id("sch"),
            hospital_id=hospital_id,
            department=department,
            doctor=doctor,
            doctor_name=doctor_name,
            session_date=session_date,
            period=period,
            start_time=start,
            end_time=end,
            starts_at=starts_at,
            ends_at=ends_at,
            capacity=capacity,
            fee=fee,
            hospital_tier=bill_tier(site, hospital_tier),
            created_at=now,
        )
        uow.appointments.add_schedule(schedule)
        audit(
            ctx,
            uow,
            actor=actor,
            action="appointment.schedule",
            subject=schedule.id,
            details={
                "hospital": hospital_id,
                "department": department,
                "doctor": doctor,
                "session_date": session_date.isoformat(),
                "start": start.strftime("%H:%M"),
                "capacity": capacity,
                "fee_fen": fee.fee_fen,
            },
        )
        uow.commit()
    return schedule


def list_schedules(
    *, ctx: Services, hospital_id: str, session_date: date, department: str | None = None
) -> list[ScheduleView]:
    """A day's sessions at the site (of one department), with their free slots now."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        found = uow.appointments.schedules(
            hospital_id, session_date=session_date, department=department, limit=MAX_SCHEDULES
        )
        booked = uow.appointments.of_schedules([s.id for s in found])
    return [ScheduleView(s, available(s, booked[s.id], now)) for s in found]


def get_schedule(*, ctx: Services, hospital_id: str, schedule_id: str) -> ScheduleView:
    """One session of the site with its free slots now."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        schedule = site_schedule(uow, schedule_id, hospital_id)
        booked = uow.appointments.of_schedules([schedule.id])[schedule.id]
    return ScheduleView(schedule, available(schedule, booked, now))


def site_schedule(
    uow: UnitOfWork, schedule_id: str, hospital_id: str, *, lock: bool = False
) -> Schedule:
    """The session, if it is of this site (NotFound otherwise, whether it exists or not)."""
    found = uow.appointments.schedule(schedule_id, hospital_id, lock=lock)
    if found is None:
        raise NotFound("no such schedule")
    return found
