"""What a patient-facing screen says after a step: one short sentence, for large type and for
the kiosk's voice (the kiosk pages render and speak it). Plain words, no codes, no amounts
beyond what the patient needs; a refusal's sentence is the problem's `detail`.
"""

from __future__ import annotations

from datetime import date

PERIODS = {"am": "morning", "pm": "afternoon", "custom": "session"}


def booked(doctor_name: str, day: date, period: str, slot: int) -> str:
    """A booking was made."""
    when = f"{day.day} {day:%B}, {PERIODS.get(period, 'session')}"
    return f"You are booked with {doctor_name}, {when}, number {slot}."


def appointment(status: str, doctor_name: str, refunded: bool) -> str:
    """Where a booking stands after a check-in or a cancel."""
    if status == "checked_in":
        return f"You are checked in. Please wait for {doctor_name} to call you."
    if status == "cancelled":
        fee = "The fee is refunded." if refunded else "The fee is not refunded."
        return f"Your booking is cancelled. {fee}"
    return f"Your booking with {doctor_name} stands."


def collected(status: str) -> str:
    """Medicine handed over at a pharmacy window."""
    if status == "done":
        return "Here is your medicine. Please check it before you leave."
    return "Here is part of your medicine. The pharmacist will tell you about the rest."


def exam_checked_in() -> str:
    """A patient checked in at an exam room."""
    return "You are checked in. Please wait to be called in."


def bedside() -> str:
    """The daily check-in at the bed."""
    return "Thank you. You are checked in for today."
