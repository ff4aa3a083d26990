"""Enrol a patient: ID card + live capture + biometric consent -> one sealed face template.

Order matters: everything that can refuse (registry, liveness, face against the ID photo,
duplicate face) runs before anything is stored; the chip photo and the frames are used in memory
and dropped, only the sealed template is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from facepay.hospital.tenants import Hospital, match_scopes, region_scope, template_scope
from facepay.identity.id_card import IdCard
from facepay.identity.records import (
    BiometricConsent,
    ConsentRecord,
    InsuredPerson,
    TemplateRecord,
)
from facepay.services.context import Services
from facepay.services.gallery_sync import save_gallery
from facepay.services.ports import UnitOfWork
from facepay.services.support import (
    ENROL_FRAMES,
    audit,
    capture_embedding,
    require_hospital,
    require_live,
)
from facepay.shared.errors import Conflict, InvalidInput, NotFound
from facepay.shared.ids import new_id
from facepay.supervision.alerts import DUPLICATE_FACE, POSSIBLE_DUPLICATE_FACE, Alert
from facepay.supervision.redaction import mask_id_number
from facepay.vision.image import decode_image
from facepay.vision.liveness import Capture
from facepay.vision.types import Embedding
from facepay.vision.verification import NoFaceFound, probe, similarity

DUPLICATE_SEARCH_K = 5


@dataclass(frozen=True)
class Enrolment:
    """The enrolled person (insured person id), their template id and consent id."""

    person_id: str
    template_id: str
    consent_id: str
    category: str
    verify_score: float
    scope: str


def enrol_patient(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    id_card: IdCard,
    chip_photo: bytes,
    capture: Capture,
    consent: BiometricConsent,
) -> Enrolment:
    """Check liveness and the face against the ID photo, refuse duplicates, store the template
    in the scope the consent reaches (the whole region, or this site only)."""
    site, person = _registered_person(ctx, id_card, hospital_id)
    reach = consent.reach or site.default_reach
    consent = replace(consent, reach=reach)
    scope = template_scope(site, reach)
    chip = _chip_embedding(ctx, chip_photo)
    require_live(ctx, capture=capture, hospital_id=hospital_id, actor=actor)
    template = capture_embedding(ctx, capture, frames=ENROL_FRAMES)
    score = similarity(template, chip)
    if score < ctx.settings.verify_threshold:
        _refuse(ctx, hospital_id, actor, person, "face_id_mismatch")
        raise InvalidInput("the face does not match the ID card photo", code="face_id_mismatch")
    resembles = _screen_duplicates(ctx, hospital_id, actor, person, template)
    version = ctx.gallery.model_version
    template_id = new_id("tpl")
    now = ctx.clock.now()
    record = TemplateRecord(
        id=template_id,
        person_id=person.id,
        hospital_id=hospital_id,
        model_version=version,
        sealed=ctx.sealer.seal(
            np.ascontiguousarray(template, dtype="<f4").tobytes(),
            template_id=template_id,
            model_version=version,
        ),
        created_at=now,
        scope=scope,
    )
    consent_record = ConsentRecord(new_id("cns"), person.id, hospital_id, consent)
    with ctx.uow() as uow:
        replaced, superseded = _replaceable(uow, person.id, site, scope)
        uow.templates.delete(replaced + superseded)
        uow.consents.add(consent_record)
        uow.templates.add(record)
        if resembles:
            uow.alerts.add(
                _alert(
                    ctx, hospital_id, actor, person, POSSIBLE_DUPLICATE_FACE, resembles=resembles
                )
            )
        audit(
            ctx,
            uow,
            actor=actor,
            action="patient.enrol",
            subject=person.id,
            details={
                "hospital": hospital_id,
                "id_number": mask_id_number(person.id_number),
                "template_id": template_id,
                "consent_id": consent_record.id,
                "consent_purpose": consent.purpose,
                "model": version,
                "scope": scope,
                "replaces_quarantined": replaced,
                "supersedes": superseded,
            },
        )
        uow.commit()
    # After the commit (the journal has it too: every other worker follows within a second).
    with ctx.gallery_lock:
        for old in superseded:
            if old in ctx.gallery:
                ctx.gallery.remove(old)
        if template_id not in ctx.gallery:
            ctx.gallery.add(template_id, template, scope=scope)
    save_gallery(ctx=ctx)
    return Enrolment(person.id, template_id, consent_record.id, person.category, score, scope)


def _registered_person(
    ctx: Services, id_card: IdCard, hospital_id: str
) -> tuple[Hospital, InsuredPerson]:
    with ctx.uow() as uow:
        site = require_hospital(uow, hospital_id)
        person = uow.people.by_id_number(id_card.id_number)
        if person is None:
            raise NotFound("the ID number is not in the insurance registry", code="not_insured")
        _replaceable(uow, person.id, site, None)
    if (person.name, person.sex, person.birth_date) != (
        id_card.name,
        id_card.sex,
        id_card.birth_date,
    ):
        raise InvalidInput("the ID card does not match the registry", code="id_card_mismatch")
    return site, person


def _replaceable(
    uow: UnitOfWork, person_id: str, site: Hospital, scope: str | None
) -> tuple[list[str], list[str]]:
    """(the person's quarantined templates at the site, which a new enrolment replaces; their
    site-only templates at other sites of the region, which a regional one supersedes).
    Conflict if a usable template matches at this site already (enrolled here, or for the
    whole region)."""
    found = uow.templates.of_person(person_id)
    covering = match_scopes(site)
    if any(t.usable and t.scope in covering for t in found):
        raise Conflict("this person is enrolled already", code="already_enrolled")
    replaced = [t.id for t in found if not t.usable and t.hospital_id == site.id]
    superseded: list[str] = []
    if scope == region_scope(site.region_id):
        for t in found:
            other = uow.tenants.hospital(t.hospital_id) if t.usable else None
            if other is not None and other.region_id == site.region_id:
                superseded.append(t.id)
    return replaced, superseded


def _chip_embedding(ctx: Services, chip_photo: bytes) -> Embedding:
    try:
        return probe(ctx.engine, decode_image(chip_photo)).embedding
    except NoFaceFound:
        raise InvalidInput("no face found in the ID card photo", code="no_face_on_id") from None


def _screen_duplicates(
    ctx: Services, hospital_id: str, actor: str, person: InsuredPerson, template: Embedding
) -> list[str]:
    """The 1:N duplicate screen over every hospital's faces, before anything is stored.

    Another person at or above the verification threshold: the same face under another ID number
    (a lent or forged credential), refused with an alert. Others in the review band below it are
    returned, so that the enrolment is stored with a `possible_duplicate_face` alert for a
    supervisor (see `Settings.duplicate_review_threshold`).
    """
    settings = ctx.settings
    hits = _resembling(ctx, template, settings.duplicate_review_threshold)
    if not hits:
        return []
    with ctx.uow() as uow:
        owners = uow.templates.get_many(list(hits))
    best: dict[str, float] = {}
    for template_id, record in owners.items():
        if record.person_id != person.id:
            best[record.person_id] = max(best.get(record.person_id, -1.0), hits[template_id])
    certain = sorted(p for p, score in best.items() if score >= settings.verify_threshold)
    if certain:
        alert = _alert(ctx, hospital_id, actor, person, DUPLICATE_FACE, already_enrolled_as=certain)
        _refuse(ctx, hospital_id, actor, person, DUPLICATE_FACE, alert=alert)
        raise Conflict(
            "this face is enrolled under another ID number; a supervisor has been alerted",
            code=DUPLICATE_FACE,
        )
    return sorted(best)


def _resembling(ctx: Services, template: Embedding, threshold: float) -> dict[str, float]:
    """Every template at or above `threshold`, however many: k grows until the search's last
    hit falls below it. A person enrolled at many hospitals has as many near-identical
    templates, which a fixed top k would let crowd out another person's face."""
    k = DUPLICATE_SEARCH_K
    while True:
        hits = ctx.gallery.search(template, k)
        if len(hits) < k or hits[-1].score < threshold:
            break
        k *= 4
    return {c.template_id: c.score for c in hits if c.score >= threshold}


def _alert(
    ctx: Services,
    hospital_id: str,
    actor: str,
    person: InsuredPerson,
    kind: str,
    **found: list[str],
) -> Alert:
    return Alert(
        id=new_id("alr"),
        hospital_id=hospital_id,
        kind=kind,
        subject=person.id,
        details={"id_number": mask_id_number(person.id_number), **found, "by": actor},
        created_at=ctx.clock.now(),
    )


def _refuse(
    ctx: Services,
    hospital_id: str,
    actor: str,
    person: InsuredPerson,
    reason: str,
    *,
    alert: Alert | None = None,
) -> None:
    with ctx.uow() as uow:
        if alert is not None:
            uow.alerts.add(alert)
        audit(
            ctx,
            uow,
            actor=actor,
            action="patient.enrol_refused",
            subject=person.id,
            details={"hospital": hospital_id, "reason": reason},
        )
        uow.commit()
