"""Withdraw biometric consent: erase the person's templates (database and gallery), record it.

Withdrawing at any site withdraws every consent that reaches it - one given there, or one given
anywhere in the region for the whole region - and erases the templates those consents made, for
every site at once: the rows go in one transaction, each worker's gallery drops them as it follows
the journal, and identification checks the rows inside its own transaction, so the face matches
nowhere from the moment this returns. The erasure record says who, when and how many templates;
never what they held. Payment by ID number + insurance card keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass

from facepay.hospital.tenants import Hospital, match_scopes
from facepay.identity.records import ConsentRecord, ErasureRecord
from facepay.services.context import Services
from facepay.services.gallery_sync import save_gallery
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import InvalidInput, NotFound
from facepay.shared.ids import new_id


@dataclass(frozen=True)
class Erasure:
    """What was erased; the person can still pay by ID number + insurance card."""

    record: ErasureRecord
    consents_withdrawn: int


def withdraw_consent(
    *, ctx: Services, hospital_id: str, actor: str, person_id: str, reason: str = "withdrawn"
) -> Erasure:
    """Withdraw the consents reaching the site and erase every template they made."""
    if not reason or len(reason) > 200 or not reason.isprintable():
        raise InvalidInput("reason: 1 to 200 printable characters")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        site = require_hospital(uow, hospital_id)
        scopes = match_scopes(site)
        templates = [
            t
            for t in uow.templates.of_person(person_id)
            if t.scope in scopes or t.hospital_id == site.id
        ]
        consents = [c for c in uow.consents.active_of_person(person_id) if reaches(uow, c, site)]
        if not templates and not consents:
            raise NotFound("no enrolled patient with this id")
        for consent in consents:
            uow.consents.withdraw(consent.id, at=now, by=actor)
        ids = [t.id for t in templates]
        uow.templates.delete(ids)
        record = ErasureRecord(new_id("era"), person_id, hospital_id, now, actor, len(ids), reason)
        uow.consents.add_erasure(record)
        audit(
            ctx,
            uow,
            actor=actor,
            action="consent.withdraw",
            subject=person_id,
            details={
                "hospital": hospital_id,
                "erasure": record.id,
                "templates_deleted": len(ids),
                "scopes": sorted({t.scope for t in templates}),
                "consents_withdrawn": len(consents),
                "reason": reason,
            },
        )
        uow.commit()
    with ctx.gallery_lock:
        for template_id in ids:
            if template_id in ctx.gallery:
                ctx.gallery.remove(template_id)
    save_gallery(ctx=ctx)
    return Erasure(record, len(consents))


def reaches(uow: UnitOfWork, consent: ConsentRecord, site: Hospital) -> bool:
    """Whether a consent covers matching at `site`: given there, or for the site's region."""
    if consent.hospital_id == site.id:
        return True
    given_at = uow.tenants.hospital(consent.hospital_id)
    return (
        consent.consent.reach == "region"
        and given_at is not None
        and given_at.region_id == site.region_id
    )
