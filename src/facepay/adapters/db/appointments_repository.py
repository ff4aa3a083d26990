"""Booking policies, schedules and appointments on SQLAlchemy Core (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, cast

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from facepay.adapters.db.bill_repository import keyset
from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import (
    appointment_holders,
    appointment_policies,
    appointment_schedules,
    appointments,
)
from facepay.hospital.appointments import (
    Appointment,
    AppointmentStatus,
    BookingPolicy,
    Channel,
    FeeLine,
    Period,
    Schedule,
)
from facepay.services.repositories import RecordQuery
from facepay.shared.errors import Conflict

POLICY_FIELDS = (
    "per_department_day",
    "per_week",
    "release_min_seconds",
    "release_max_seconds",
    "cancel_cutoff_minutes",
    "check_in_early_minutes",
)


def _schedule(row: Mapping[Any, Any]) -> Schedule:
    return Schedule(
        id=row["id"],
        hospital_id=row["hospital_id"],
        department=row["department"],
        doctor=row["doctor"],
        doctor_name=row["doctor_name"],
        session_date=row["session_date"],
        period=cast(Period, row["period"]),
        start_time=time.fromisoformat(row["start_time"]),
        end_time=time.fromisoformat(row["end_time"]),
        starts_at=utc(row["starts_at"]),
        ends_at=utc(row["ends_at"]),
        capacity=row["capacity"],
        fee=FeeLine(
            code=row["fee_code"],
            name=row["fee_name"],
            item_class=cast(Any, row["fee_item_class"]),
            fee_fen=int(row["fee_fen"]),
        ),
        hospital_tier=row["hospital_tier"],
        created_at=utc(row["created_at"]),
    )


def _schedule_values(schedule: Schedule) -> dict[str, object]:
    values = {k: v for k, v in schedule.__dict__.items() if k != "fee"}
    values["start_time"] = schedule.start_time.strftime("%H:%M")
    values["end_time"] = schedule.end_time.strftime("%H:%M")
    return {
        **values,
        "fee_code": schedule.fee.code,
        "fee_name": schedule.fee.name,
        "fee_item_class": schedule.fee.item_class,
        "fee_fen": schedule.fee.fee_fen,
    }


def _maybe(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def _appointment(row: Mapping[Any, Any]) -> Appointment:
    return Appointment(
        id=row["id"],
        hospital_id=row["hospital_id"],
        schedule_id=row["schedule_id"],
        person_id=row["person_id"],
        slot=row["slot"],
        channel=cast(Channel, row["channel"]),
        status=cast(AppointmentStatus, row["status"]),
        idempotency_key=row["idempotency_key"],
        booked_at=utc(row["booked_at"]),
        booked_by=row["booked_by"],
        bill_id=row["bill_id"],
        proxy_grant_id=row["proxy_grant_id"],
        checked_in_at=_maybe(row["checked_in_at"]),
        check_in_identification=row["check_in_identification"],
        cancelled_at=_maybe(row["cancelled_at"]),
        cancel_key=row["cancel_key"],
        release_at=_maybe(row["release_at"]),
        refunded=bool(row["refunded"]),
    )


class SqlAlchemyAppointmentRepository:
    """Booking policies, schedules, appointments and the per-person booking locks."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def policy(self, hospital_id: str) -> BookingPolicy | None:
        """The site's own policy row, if any."""
        query = select(appointment_policies).where(
            appointment_policies.c.hospital_id == hospital_id
        )
        row = self._c.execute(query).mappings().first()
        return BookingPolicy(**{k: row[k] for k in POLICY_FIELDS}) if row else None

    def set_policy(self, hospital_id: str, policy: BookingPolicy, *, at: datetime) -> None:
        """Replace the row."""
        t = appointment_policies
        self._c.execute(delete(t).where(t.c.hospital_id == hospital_id))
        values = {k: getattr(policy, k) for k in POLICY_FIELDS}
        self._c.execute(insert(t).values(hospital_id=hospital_id, updated_at=at, **values))

    def add_schedule(self, schedule: Schedule) -> None:
        """Insert; one session per doctor, day and start time."""
        try:
            with self._c.begin_nested():
                self._c.execute(insert(appointment_schedules).values(**_schedule_values(schedule)))
        except IntegrityError:
            raise Conflict(
                "this doctor has a session at that time already", code="duplicate_schedule"
            ) from None

    def schedule(
        self, schedule_id: str, hospital_id: str, *, lock: bool = False
    ) -> Schedule | None:
        """Within the hospital; FOR UPDATE when asked."""
        t = appointment_schedules
        query = select(t).where(t.c.id == schedule_id, t.c.hospital_id == hospital_id)
        if lock:
            query = query.with_for_update()
        row = self._c.execute(query).mappings().first()
        return _schedule(row) if row else None

    def schedules(
        self, hospital_id: str, *, session_date: date, department: str | None, limit: int
    ) -> list[Schedule]:
        """A day's sessions."""
        t = appointment_schedules
        query = select(t).where(t.c.hospital_id == hospital_id, t.c.session_date == session_date)
        if department is not None:
            query = query.where(t.c.department == department)
        query = query.order_by(t.c.starts_at, t.c.department, t.c.doctor, t.c.id).limit(limit)
        return [_schedule(row) for row in self._c.execute(query).mappings()]

    def search_schedules(self, query: RecordQuery) -> list[Schedule]:
        """By (starts_at, id)."""
        t = appointment_schedules
        found = keyset(select(t).where(t.c.hospital_id == query.hospital_id), query,
                       t.c.starts_at, t.c.id)  # fmt: skip
        rows = [_schedule(row) for row in self._c.execute(found).mappings()]
        return rows[::-1] if query.before is not None else rows

    def search(self, query: RecordQuery) -> list[tuple[Appointment, Schedule]]:
        """By (session start, booking id)."""
        a, s = appointments, appointment_schedules
        found = (
            select(a, *(c.label(f"s_{c.name}") for c in s.c))
            .join(s, s.c.id == a.c.schedule_id)
            .where(a.c.hospital_id == query.hospital_id)
        )
        if query.person_id is not None:
            found = found.where(a.c.person_id == query.person_id)
        if query.statuses is not None:
            found = found.where(a.c.status.in_(sorted(query.statuses)))
        found = keyset(found, query, s.c.starts_at, a.c.id)
        rows = []
        for row in self._c.execute(found).mappings():
            session = {c.name: row[f"s_{c.name}"] for c in s.c}
            rows.append((_appointment(row), _schedule(session)))
        return rows[::-1] if query.before is not None else rows

    def lock_person(self, hospital_id: str, person_id: str) -> None:
        """Insert the row if absent (waiting for a concurrent insert to commit), then lock it."""
        t = appointment_holders
        values = {"hospital_id": hospital_id, "person_id": person_id}
        dialect = self._c.dialect.name
        make = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._c.execute(make(t).values(**values).on_conflict_do_nothing())
        query = select(t.c.person_id).where(
            t.c.hospital_id == hospital_id, t.c.person_id == person_id
        )
        self._c.execute(query.with_for_update()).first()

    def add(self, appointment: Appointment) -> None:
        """Insert."""
        self._c.execute(insert(appointments).values(**appointment.__dict__))

    def get(self, appointment_id: str, hospital_id: str) -> Appointment | None:
        """Within the hospital; FOR UPDATE."""
        t = appointments
        query = select(t).where(t.c.id == appointment_id, t.c.hospital_id == hospital_id)
        row = self._c.execute(query.with_for_update()).mappings().first()
        return _appointment(row) if row else None

    def by_key(self, hospital_id: str, idempotency_key: str) -> Appointment | None:
        """By booking key."""
        t = appointments
        query = select(t).where(
            t.c.hospital_id == hospital_id, t.c.idempotency_key == idempotency_key
        )
        row = self._c.execute(query).mappings().first()
        return _appointment(row) if row else None

    def by_cancel_key(self, hospital_id: str, cancel_key: str) -> Appointment | None:
        """By cancel key."""
        t = appointments
        query = select(t).where(t.c.hospital_id == hospital_id, t.c.cancel_key == cancel_key)
        row = self._c.execute(query).mappings().first()
        return _appointment(row) if row else None

    def save(self, appointment: Appointment) -> None:
        """Overwrite."""
        t = appointments
        self._c.execute(update(t).where(t.c.id == appointment.id).values(**appointment.__dict__))

    def of_schedules(self, schedule_ids: Sequence[str]) -> dict[str, list[Appointment]]:
        """Every booking of these sessions."""
        found: dict[str, list[Appointment]] = {sid: [] for sid in schedule_ids}
        if not schedule_ids:
            return found
        t = appointments
        query = (
            select(t)
            .where(t.c.schedule_id.in_(list(schedule_ids)))
            .order_by(t.c.schedule_id, t.c.slot, t.c.booked_at, t.c.id)
        )
        for row in self._c.execute(query).mappings():
            found[row["schedule_id"]].append(_appointment(row))
        return found

    def held_by(
        self, hospital_id: str, person_id: str, *, start: date, end: date
    ) -> list[tuple[Appointment, Schedule]]:
        """Active bookings of the person with their sessions."""
        a, s = appointments, appointment_schedules
        query = (
            select(a, *(c.label(f"s_{c.name}") for c in s.c))
            .join(s, s.c.id == a.c.schedule_id)
            .where(
                a.c.hospital_id == hospital_id,
                a.c.person_id == person_id,
                a.c.status != "cancelled",
                s.c.session_date >= start,
                s.c.session_date <= end,
            )
            .order_by(s.c.starts_at, a.c.id)
        )
        held = []
        for row in self._c.execute(query).mappings():
            session = {c.name: row[f"s_{c.name}"] for c in s.c}
            held.append((_appointment(row), _schedule(session)))
        return held
