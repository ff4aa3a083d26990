"""Who stood at the terminal for a flow step: the patient, or a proxy acting for them.

PROVISIONAL (wt-orders): the integrator's base on main defines this module with proxy grants;
this stand-in has the same names and refusals for the patient in person only, so that the
orders flow runs before the base lands. On merge, main's version replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from facepay.services.identification import usable_identification
from facepay.services.ports import UnitOfWork
from facepay.shared.errors import Forbidden

ProxyAct = Literal["pay", "collect", "check_in"]


@dataclass(frozen=True)
class Presence:
    """Who stood at the terminal for a flow step."""

    patient_id: str
    person_id: str
    proxy_grant_id: str | None
    identification_id: str
    method: str

    def audit_details(self) -> dict[str, object]:
        """What the step's audit entry keeps of it."""
        return {
            "patient": self.patient_id,
            "present": self.person_id,
            "proxy_grant": self.proxy_grant_id,
            "identification": self.identification_id,
            "method": self.method,
        }


def attend(
    uow: UnitOfWork,
    *,
    identification_id: str,
    hospital_id: str,
    patient_id: str,
    act: ProxyAct,
    used_for: str,
    now: datetime,
    staff_confirmed: bool,
    card_needs_staff: bool = True,
) -> Presence:
    """Consume an identification of this site as proof that the patient is present."""
    record = usable_identification(uow, identification_id, hospital_id, now)
    if record.decision != "match" or record.person_id != patient_id:
        raise Forbidden("this is not the patient", code="not_the_patient")
    if record.method == "credentials" and card_needs_staff and not staff_confirmed:
        raise Forbidden(
            "a card identification needs a staff member to confirm",
            code="staff_confirmation_required",
        )
    uow.identifications.save(replace(record, used_at=now, used_for=used_for))
    return Presence(patient_id, patient_id, None, record.id, record.method)
