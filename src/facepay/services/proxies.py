"""Register, revoke and list the guardians and carers who may act for a patient.

Registration happens at a desk, in one unit of work: the proxy's own identification of this
site (face or card, confirmed by the staff member registering) and, when the basis is the
patient's consent, the patient's own; both are consumed, the grant is stored and audited under
both persons. The rules of each basis are the domain's (facepay.hospital.proxies).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from facepay.hospital.proxies import (
    Basis,
    ProxyAct,
    ProxyGrant,
    Relation,
    check_grant,
)
from facepay.identity.records import InsuredPerson
from facepay.services.context import Services
from facepay.services.identification import usable_identification
from facepay.services.ports import UnitOfWork
from facepay.services.presence import attend
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import Conflict, Forbidden, NotFound
from facepay.shared.ids import new_id


def register_proxy(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    proxy_identification_id: str,
    patient_id: str,
    patient_identification_id: str | None,
    relation: Relation,
    basis: Basis,
    acts: Collection[ProxyAct],
    valid_until: datetime,
    evidence_ref: str | None = None,
) -> ProxyGrant:
    """Store a grant for `proxy_identification_id`'s person to act for `patient_id`."""
    now = ctx.clock.now()
    grant_id = new_id("pxy")
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        patient = _person(uow, patient_id)
        proxy_record = usable_identification(uow, proxy_identification_id, hospital_id, now)
        if proxy_record.decision != "match" or proxy_record.person_id is None:
            raise Forbidden("the proxy was not identified", code="proxy_not_identified")
        proxy = _person(uow, proxy_record.person_id)
        patient_present = False
        if patient_identification_id is not None:
            present = attend(
                uow,
                identification_id=patient_identification_id,
                hospital_id=hospital_id,
                patient_id=patient.id,
                act="check_in",
                used_for=grant_id,
                now=now,
                staff_confirmed=True,
            )
            if present.by_proxy:
                # Consent is the patient's own: a carer who may check them in cannot give it.
                raise Forbidden("this is not the patient", code="not_the_patient")
            patient_present = True
        check_grant(
            basis=basis,
            patient_birth_date=patient.birth_date,
            patient_present=patient_present,
            evidence_ref=evidence_ref,
            valid_from=now,
            valid_until=valid_until,
        )
        grant = ProxyGrant(
            id=grant_id,
            patient_id=patient.id,
            proxy_id=proxy.id,
            relation=relation,
            basis=basis,
            acts=frozenset(acts),
            valid_from=now,
            valid_until=valid_until,
            hospital_id=hospital_id,
            created_by=actor,
            evidence_ref=evidence_ref,
        )
        for earlier in uow.proxies.between(patient.id, proxy.id):
            if earlier.revoked_at is None and earlier.status(now) == "expired":
                uow.proxies.revoke(earlier.id, at=now, by="expired")  # closed, so one is live
            elif earlier.revoked_at is None:
                raise Conflict(
                    "this proxy already acts for the patient: revoke that grant first",
                    code="proxy_already_granted",
                )
        attend(
            uow,
            identification_id=proxy_identification_id,
            hospital_id=hospital_id,
            patient_id=proxy.id,
            act="check_in",
            used_for=grant_id,
            now=now,
            staff_confirmed=True,
        )
        uow.proxies.add(grant)
        audit(
            ctx,
            uow,
            actor=actor,
            action="proxy.register",
            subject=grant.id,
            details={
                "hospital": hospital_id,
                "patient": patient.id,
                "proxy": proxy.id,
                "relation": relation,
                "basis": basis,
                "acts": sorted(grant.acts),
                "valid_until": valid_until.isoformat(),
                "patient_present": patient_present,
            },
        )
        uow.commit()
    return grant


def revoke_proxy(
    *, ctx: Services, hospital_id: str, actor: str, grant_id: str, reason: str
) -> ProxyGrant:
    """End a grant registered at this site, at once (revoking twice changes nothing)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        grant = site_grant(uow, grant_id, hospital_id)
        if grant.revoked_at is None:
            uow.proxies.revoke(grant.id, at=now, by=actor)
            audit(
                ctx,
                uow,
                actor=actor,
                action="proxy.revoke",
                subject=grant.id,
                details={
                    "hospital": hospital_id,
                    "patient": grant.patient_id,
                    "proxy": grant.proxy_id,
                    "reason": reason,
                },
            )
        found = uow.proxies.get(grant.id)
        assert found is not None
        uow.commit()
    return found


def get_proxy(*, ctx: Services, hospital_id: str, grant_id: str) -> ProxyGrant:
    """A grant registered at this site."""
    with ctx.uow() as uow:
        return site_grant(uow, grant_id, hospital_id)


def proxies_of(*, ctx: Services, hospital_id: str, patient_id: str) -> list[ProxyGrant]:
    """The grants registered at this site for a patient, oldest first."""
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        return [g for g in uow.proxies.of_patient(patient_id) if g.hospital_id == hospital_id]


def site_grant(uow: UnitOfWork, grant_id: str, hospital_id: str) -> ProxyGrant:
    """The grant if this site registered it (NotFound otherwise, whether it exists or not)."""
    grant = uow.proxies.get(grant_id)
    if grant is None or grant.hospital_id != hospital_id:
        raise NotFound("no such proxy grant")
    return grant


def _person(uow: UnitOfWork, person_id: str) -> InsuredPerson:
    person = uow.people.get(person_id)
    if person is None:
        raise NotFound("no such person", code="not_insured")
    return person


__all__ = ["get_proxy", "proxies_of", "register_proxy", "revoke_proxy", "site_grant"]
