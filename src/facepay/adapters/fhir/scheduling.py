"""Appointment and Slot: a booking and the numbered place it holds in a doctor's session.

A session (facepay's schedule) has `capacity` numbered slots without times of their own, so a
Slot's `start` / `end` are its session's and its id is `<session id>.<number>`. The session is
named by identifier (there is no Schedule resource here).
"""

from __future__ import annotations

from typing import Any

from facepay.adapters.fhir.common import BASE, emit, fhir_id
from facepay.hospital.appointments import Appointment, Schedule

SID_SESSION = f"{BASE}/sid/session"
STATUS = {"booked": "booked", "checked_in": "checked-in", "cancelled": "cancelled"}


def slot_id(schedule: Schedule, number: int) -> str:
    """The Slot id of slot `number` of a session."""
    return f"{fhir_id(schedule.id)}.{number}"


def appointment_resource(appointment: Appointment, schedule: Schedule) -> dict[str, Any]:
    """A booking as an Appointment."""
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": fhir_id(appointment.id),
        "status": STATUS.get(appointment.status, "booked"),
        "serviceType": [{"text": schedule.department}],
        "start": schedule.starts_at.isoformat(timespec="seconds"),
        "end": schedule.ends_at.isoformat(timespec="seconds"),
        "slot": [{"reference": f"Slot/{slot_id(schedule, appointment.slot)}"}],
        "created": appointment.booked_at.isoformat(timespec="seconds"),
        "comment": f"slot {appointment.slot} of {schedule.capacity}, booked via "
        f"{appointment.channel}",
        "participant": [
            {"actor": {"reference": f"Patient/{fhir_id(appointment.person_id)}"},
             "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{fhir_id(schedule.doctor)}",
                       "display": schedule.doctor_name}, "status": "accepted"},
        ],
    }  # fmt: skip
    if appointment.bill_id is not None:
        resource["supportingInformation"] = [
            {"reference": f"Invoice/{fhir_id(appointment.bill_id)}"}
        ]
    if appointment.status == "cancelled":
        resource["cancelationReason"] = {"text": "cancelled"}
    return emit(resource)


def slot_resource(schedule: Schedule, number: int, *, held: bool) -> dict[str, Any]:
    """Slot `number` of a session: busy while a booking holds it."""
    return emit(
        {
            "resourceType": "Slot",
            "id": slot_id(schedule, number),
            "serviceType": [{"text": schedule.department}],
            "schedule": {
                "identifier": {"system": SID_SESSION, "value": schedule.id},
                "display": f"{schedule.department} {schedule.doctor_name} "
                f"{schedule.session_date.isoformat()} {schedule.period}",
            },
            "status": "busy" if held else "free",
            "start": schedule.starts_at.isoformat(timespec="seconds"),
            "end": schedule.ends_at.isoformat(timespec="seconds"),
        }
    )
