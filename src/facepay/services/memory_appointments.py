"""In-memory `AppointmentRepository` (services.repositories): the fake for use-case tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from facepay.hospital.appointments import Appointment, BookingPolicy, Schedule
from facepay.services.repositories import PageKey, RecordQuery
from facepay.shared.errors import Conflict


class InMemoryAppointmentRepository:
    """Policies, schedules and appointments in dicts (the store's lock serialises writers, so
    `lock_person` and `lock=True` have nothing to do)."""

    def __init__(self) -> None:
        self.policies: dict[str, BookingPolicy] = {}
        self.schedule_rows: dict[str, Schedule] = {}
        self.rows: dict[str, Appointment] = {}

    def policy(self, hospital_id: str) -> BookingPolicy | None:
        """The site's own policy."""
        return self.policies.get(hospital_id)

    def set_policy(self, hospital_id: str, policy: BookingPolicy, *, at: datetime) -> None:
        """Replace."""
        self.policies[hospital_id] = policy

    def add_schedule(self, schedule: Schedule) -> None:
        """Store; one session per doctor, day and start time (as the database's unique key)."""
        key = _session_key(schedule)
        if any(_session_key(s) == key for s in self.schedule_rows.values()):
            raise Conflict(
                "this doctor has a session at that time already", code="duplicate_schedule"
            )
        self.schedule_rows[schedule.id] = schedule

    def schedule(
        self, schedule_id: str, hospital_id: str, *, lock: bool = False
    ) -> Schedule | None:
        """Within the hospital only."""
        found = self.schedule_rows.get(schedule_id)
        return found if found is not None and found.hospital_id == hospital_id else None

    def schedules(
        self, hospital_id: str, *, session_date: date, department: str | None, limit: int
    ) -> list[Schedule]:
        """A day's sessions in the database's order."""
        found = [
            s
            for s in self.schedule_rows.values()
            if s.hospital_id == hospital_id
            and s.session_date == session_date
            and (department is None or s.department == department)
        ]
        found.sort(key=lambda s: (s.starts_at, s.department, s.doctor, s.id))
        return found[:limit]

    def search_schedules(self, query: RecordQuery) -> list[Schedule]:
        """By (starts_at, id)."""
        keyed: list[tuple[PageKey, object]] = [
            ((s.starts_at, s.id), s)
            for s in self.schedule_rows.values()
            if s.hospital_id == query.hospital_id
            and replace(query, person_id=None, statuses=None).admits(
                (s.starts_at, s.id), person_id="", status=""
            )
        ]
        return [s for s in query.page(keyed) if isinstance(s, Schedule)]

    def search(self, query: RecordQuery) -> list[tuple[Appointment, Schedule]]:
        """By (session start, booking id)."""
        keyed: list[tuple[PageKey, object]] = []
        for a in self.rows.values():
            session = self.schedule_rows.get(a.schedule_id)
            key = (session.starts_at, a.id) if session is not None else None
            if (
                session is not None
                and key is not None
                and a.hospital_id == query.hospital_id
                and query.admits(key, person_id=a.person_id, status=a.status)
            ):
                keyed.append((key, (a, session)))
        return [row for row in query.page(keyed) if isinstance(row, tuple)]

    def lock_person(self, hospital_id: str, person_id: str) -> None:
        """Nothing to lock: one unit of work at a time holds the store."""

    def add(self, appointment: Appointment) -> None:
        """Store (unique id and key, as the database enforces)."""
        if appointment.id in self.rows or self.by_key(
            appointment.hospital_id, appointment.idempotency_key
        ):
            raise Conflict("duplicate appointment")
        self.rows[appointment.id] = appointment

    def get(self, appointment_id: str, hospital_id: str) -> Appointment | None:
        """Within the hospital only."""
        found = self.rows.get(appointment_id)
        return found if found is not None and found.hospital_id == hospital_id else None

    def by_key(self, hospital_id: str, idempotency_key: str) -> Appointment | None:
        """By booking key."""
        return next(
            (
                a
                for a in self.rows.values()
                if (a.hospital_id, a.idempotency_key) == (hospital_id, idempotency_key)
            ),
            None,
        )

    def by_cancel_key(self, hospital_id: str, cancel_key: str) -> Appointment | None:
        """By cancel key."""
        return next(
            (
                a
                for a in self.rows.values()
                if (a.hospital_id, a.cancel_key) == (hospital_id, cancel_key)
            ),
            None,
        )

    def save(self, appointment: Appointment) -> None:
        """Overwrite."""
        self.rows[appointment.id] = appointment

    def of_schedules(self, schedule_ids: Sequence[str]) -> dict[str, list[Appointment]]:
        """Every booking of these sessions, by slot then booking time."""
        found: dict[str, list[Appointment]] = {sid: [] for sid in schedule_ids}
        for a in sorted(self.rows.values(), key=lambda a: (a.slot, a.booked_at, a.id)):
            if a.schedule_id in found:
                found[a.schedule_id].append(a)
        return found

    def held_by(
        self, hospital_id: str, person_id: str, *, start: date, end: date
    ) -> list[tuple[Appointment, Schedule]]:
        """Active bookings of the person with their sessions."""
        held = [
            (a, self.schedule_rows[a.schedule_id])
            for a in self.rows.values()
            if (a.hospital_id, a.person_id) == (hospital_id, person_id) and a.active
        ]
        held = [(a, s) for a, s in held if start <= s.session_date <= end]
        return sorted(held, key=lambda pair: (pair[1].starts_at, pair[0].id))


def _session_key(s: Schedule) -> tuple[object, ...]:
    return (s.hospital_id, s.department, s.doctor, s.session_date, s.start_time)
