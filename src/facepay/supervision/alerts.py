"""Supervision alerts: events a fund supervisor must look at (duplicate faces, card misuse)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from facepay.supervision.redaction import check_safe_details

DUPLICATE_FACE = "duplicate_face"
"""One face enrolled (or being enrolled) under two ID numbers: a lent or forged credential."""

POSSIBLE_DUPLICATE_FACE = "possible_duplicate_face"
"""A new enrolment whose face resembles another person's closely but not certainly: stored, and
put before a supervisor to adjudicate (same person under two ID numbers, or lookalikes)."""


TEMPLATE_QUARANTINED = "template_quarantined"
"""A stored face template failed authentication (a damaged or altered row): it is kept out of
matching until the patient enrols again; the hospital should ask them to."""


@dataclass(frozen=True)
class Alert:
    """One alert; details are checked like audit details (no biometric data, IDs masked)."""

    id: str
    hospital_id: str
    kind: str
    subject: str
    details: dict[str, object]
    created_at: datetime

    def __post_init__(self) -> None:
        check_safe_details(self.details)
