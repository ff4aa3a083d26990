"""Who is standing at the terminal: an identification consumed as proof that the patient is here.

Every step of a visit that needs the patient in person (clinic check-in, pick-up at the pharmacy,
an exam room, a bed, an admission) takes an identification of the site - a face (1:N, or 1:1
against the persons expected), a resolved second factor, or ID number + insurance card - and
`attend` consumes it inside the step's unit of work. The identified person must be the patient,
or a proxy whose grant covers the act now (facepay.hospital.proxies); a card identification at a
terminal alone is refused where a staff member must confirm it, since a card can be lent and a
face cannot. The step's audit entry carries `Presence.audit_details()`: both persons, when a
proxy acted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from facepay.hospital.proxies import ProxyAct, ProxyGrant, best_grant
from facepay.identity.records import IdentificationRecord
from facepay.services.context import Services
from facepay.services.identification import usable_identification
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit
from facepay.shared.errors import Forbidden

__all__ = ["Presence", "ProxyAct", "attend", "check_presence", "record_refusal"]


@dataclass(frozen=True)
class Presence:
    """The patient a step is for, and who was identified for it (the patient or a proxy)."""

    patient_id: str
    person_id: str
    proxy_grant_id: str | None
    identification_id: str
    method: str

    @property
    def by_proxy(self) -> bool:
        """Whether a proxy acted for the patient."""
        return self.proxy_grant_id is not None

    def audit_details(self) -> dict[str, object]:
        """What the step's audit entry records of who was there."""
        return {
            "patient": self.patient_id,
            "present": self.person_id,
            "proxy_grant": self.proxy_grant_id,
            "identification": self.identification_id,
            "method": self.method,
        }


def check_presence(
    uow: UnitOfWork,
    *,
    identification_id: str,
    hospital_id: str,
    patient_id: str,
    act: ProxyAct,
    now: datetime,
    staff_confirmed: bool,
    card_needs_staff: bool = True,
    in_person: bool = False,
) -> Presence:
    """`attend` without consuming the identification (for a step that decides later)."""
    return _checked(
        uow,
        identification_id=identification_id,
        hospital_id=hospital_id,
        patient_id=patient_id,
        act=act,
        now=now,
        staff_confirmed=staff_confirmed,
        card_needs_staff=card_needs_staff,
        in_person=in_person,
    )[0]


def _checked(
    uow: UnitOfWork,
    *,
    identification_id: str,
    hospital_id: str,
    patient_id: str,
    act: ProxyAct,
    now: datetime,
    staff_confirmed: bool,
    card_needs_staff: bool,
    in_person: bool,
) -> tuple[Presence, IdentificationRecord]:
    """The presence, and the identification record it was read from (locked)."""
    record = usable_identification(uow, identification_id, hospital_id, now)
    if record.decision != "match" or record.person_id is None:
        raise Forbidden("this identification found nobody", code="not_the_patient")
    if record.method == "credentials" and card_needs_staff and not staff_confirmed:
        raise Forbidden(
            "a card alone is not enough here: a member of staff must confirm who you are",
            code="staff_confirmation_required",
        )
    present = record.person_id
    grant_id = None
    if present != patient_id:
        grants = _of_region(uow, uow.proxies.between(patient_id, present), hospital_id)
        if in_person and grants:
            raise Forbidden(
                "only the patient in person can do this step, not a proxy",
                code="patient_in_person",
            )
        grant = best_grant(grants, act, now)
        if grant is None:
            if not grants:
                raise Forbidden("this is not the patient", code="not_the_patient")
            if any(g.status(now) == "active" for g in grants):
                raise Forbidden(
                    f"the proxy may not {act.replace('_', ' ')} for this patient",
                    code="proxy_act_not_granted",
                )
            raise Forbidden(
                "the proxy's authority for this patient has ended", code="proxy_expired"
            )
        grant_id = grant.id
    return Presence(patient_id, present, grant_id, record.id, record.method), record


def _of_region(uow: UnitOfWork, grants: list[ProxyGrant], hospital_id: str) -> list[ProxyGrant]:
    """The grants registered in this site's region: a grant holds at every site of the region
    where it was registered, and nowhere else."""
    if not grants:
        return grants
    here = uow.tenants.hospital(hospital_id)
    regions: dict[str, str | None] = {}
    for grant in grants:
        if grant.hospital_id not in regions:
            site = uow.tenants.hospital(grant.hospital_id)
            regions[grant.hospital_id] = site.region_id if site else None
    region = here.region_id if here else None
    return [g for g in grants if regions[g.hospital_id] == region]


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
    in_person: bool = False,
) -> Presence:
    """Check who was identified (see the module doc) and consume the identification for
    `used_for`, in the caller's unit of work (nothing is kept if the step fails). With
    `in_person` only the patient will do: a step that proves the patient is there."""
    presence, record = _checked(
        uow,
        identification_id=identification_id,
        hospital_id=hospital_id,
        patient_id=patient_id,
        act=act,
        now=now,
        staff_confirmed=staff_confirmed,
        card_needs_staff=card_needs_staff,
        in_person=in_person,
    )
    uow.identifications.save(replace(record, used_at=now, used_for=used_for))
    return presence


def record_refusal(
    ctx: Services,
    *,
    hospital_id: str,
    actor: str,
    action: str,
    subject: str,
    patient_id: str,
    identification_id: str,
    refusal: Forbidden,
) -> None:
    """Audit a step refused for who stood there (a stranger's face, an ended proxy) in a unit of
    work of its own: the refusal rolled the step back, and supervision must still see the
    attempt (a resold ticket, a stranger at the pharmacy window)."""
    with ctx.uow() as uow:
        audit(
            ctx,
            uow,
            actor=actor,
            action=action,
            subject=subject,
            details={
                "hospital": hospital_id,
                "patient": patient_id,
                "identification": identification_id,
                "code": refusal.code,
            },
        )
        uow.commit()
