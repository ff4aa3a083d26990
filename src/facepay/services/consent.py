"""Withdraw biometric consent: erase the person's templates (database and gallery), record it.

The erasure record says who, when and how many templates; never what they held. Payment by ID
number + insurance card keeps working (identify_by_credentials).
"""

from __future__ import annotations

from dataclasses import dataclass

from facepay.identity.records import ErasureRecord
from facepay.services.context import Services
from facepay.services.gallery_sync import save_gallery
from facepay.services.support import audit
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
    """Withdraw consent and erase every face template of the person at the hospital."""
    if not reason or len(reason) > 200 or not reason.isprintable():
        raise InvalidInput("reason: 1 to 200 printable characters")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        templates = uow.templates.of_person(person_id, hospital_id)
        consents = uow.consents.active(person_id, hospital_id)
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
