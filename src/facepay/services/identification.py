"""Identify a patient: by face (liveness + 1:N), a second factor, or ID number + insurance card.

An identification is a stored record of one site, valid for `identification_ttl_seconds` and
used by at most one payment. The 1:N search runs inside the scopes that include the site - the
region's templates and the site's own (facepay.hospital.tenants.match_scopes) - with the
gallery's filtered search, so another site's site-only enrolments are never candidates however
many there are. Each candidate's row is checked again inside the identification's transaction:
a template erased or quarantined a moment ago, on any worker, never matches, even while this
worker's gallery has not followed the journal yet.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from facepay.hospital.tenants import match_scopes
from facepay.identity.id_card import normalise_id_number
from facepay.identity.matching import decide
from facepay.identity.records import (
    IdentificationDecision,
    IdentificationMethod,
    IdentificationRecord,
    InsuredPerson,
    TemplateRecord,
)
from facepay.services.context import Services
from facepay.services.ports import UnitOfWork
from facepay.services.support import (
    IDENTIFY_FRAMES,
    audit,
    capture_embedding,
    mask_name,
    require_hospital,
    require_live,
)
from facepay.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from facepay.shared.ids import new_id
from facepay.vision.liveness import Capture, Challenge, issue_challenge
from facepay.vision.types import Embedding

SEARCH_K = 10
MAX_SECOND_FACTOR_ATTEMPTS = 3
MAX_VERIFY_PERSONS = 5
"""A 1:1 check names the patient and at most a few proxies expected with them."""


@dataclass(frozen=True)
class IdentificationResult:
    """The identification id to pay with; `person_id` on a match, `needs_second_factor` when
    ambiguous; the person's masked name and category for the screen."""

    identification_id: str
    decision: IdentificationDecision
    method: IdentificationMethod
    person_id: str | None
    needs_second_factor: bool
    expires_at: datetime
    display_name: str | None = None
    category: str | None = None


def start_liveness_challenge(*, ctx: Services) -> Challenge:
    """Issue a single-use active challenge for the next capture."""
    challenge = issue_challenge(
        now=ctx.clock.now(), ttl_seconds=ctx.settings.liveness_challenge_ttl_seconds
    )
    return ctx.challenges.add(challenge)


def identify(
    *, ctx: Services, hospital_id: str, actor: str, capture: Capture
) -> IdentificationResult:
    """Liveness, then 1:N among the hospital's enrolled faces, then the match decision."""
    require_live(ctx, capture=capture, hospital_id=hospital_id, actor=actor)
    embedding = capture_embedding(ctx, capture, frames=IDENTIFY_FRAMES)
    with ctx.uow() as uow:
        # The site's scopes, the 1:N search among them (a few ms) and the rows in one transaction.
        scopes = match_scopes(require_hospital(uow, hospital_id))
        hits = ctx.gallery.search(embedding, SEARCH_K, scopes=scopes)
        owners = uow.templates.get_many([h.template_id for h in hits])
        # The rows decide, inside this transaction: a template erased or quarantined since the
        # search, or of another scope, is no candidate.
        local = [
            h
            for h in hits
            if (owner := owners.get(h.template_id)) is not None
            and owner.usable
            and owner.scope in scopes
        ]
        result = decide(local, policy=ctx.decision_policy)
        persons = [owners[c.template_id].person_id for c in result.contenders]
        person_id = persons[0] if result.decision == "match" else None
        record = _new_record(
            ctx,
            hospital_id,
            method="face",
            decision=result.decision,
            person_id=person_id,
            contenders=tuple(dict.fromkeys(persons)),
        )
        uow.identifications.add(record)
        audit(
            ctx,
            uow,
            actor=actor,
            action="patient.identify",
            subject=record.id,
            details={
                "hospital": hospital_id,
                "decision": result.decision,
                "why": result.why,
                "person": person_id,
                "contenders": len(record.contenders),
            },
        )
        person = uow.people.get(person_id) if person_id else None
        uow.commit()
    return _result(record, person)


@dataclass(frozen=True)
class _Scored:
    template_id: str
    score: float


def verify(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    capture: Capture,
    person_ids: Sequence[str],
) -> IdentificationResult:
    """Liveness, then 1:1 against the named persons only (the patient a step is for, and their
    proxies): their usable templates that may match at this site, opened from the database.
    The same threshold, margin and band as 1:N decide; the record is used like any other."""
    wanted = list(dict.fromkeys(person_ids))
    if not 1 <= len(wanted) <= MAX_VERIFY_PERSONS:
        raise InvalidInput(
            f"name 1 to {MAX_VERIFY_PERSONS} persons to verify against", code="bad_person_ids"
        )
    require_live(ctx, capture=capture, hospital_id=hospital_id, actor=actor)
    embedding = capture_embedding(ctx, capture, frames=IDENTIFY_FRAMES)
    with ctx.uow() as uow:
        scopes = match_scopes(require_hospital(uow, hospital_id))
        best: dict[str, _Scored] = {}
        owner_of: dict[str, str] = {}
        for candidate in wanted:
            for template in uow.templates.of_person(candidate):
                score = _score(ctx, template, embedding, scopes)
                if score is not None and (candidate not in best or score > best[candidate].score):
                    best[candidate] = _Scored(template.id, score)
                    owner_of[template.id] = candidate
        # One candidate per person: two templates of one person are not a close second.
        result = decide(best.values(), policy=ctx.decision_policy)
        matched = [owner_of[c.template_id] for c in result.contenders]
        person_id = matched[0] if result.decision == "match" else None
        record = _new_record(
            ctx,
            hospital_id,
            method="face",
            decision=result.decision,
            person_id=person_id,
            contenders=tuple(matched),
        )
        uow.identifications.add(record)
        audit(
            ctx,
            uow,
            actor=actor,
            action="patient.verify",
            subject=record.id,
            details={
                "hospital": hospital_id,
                "decision": result.decision,
                "why": result.why,
                "person": person_id,
                "against": len(wanted),
            },
        )
        person = uow.people.get(person_id) if person_id else None
        uow.commit()
    return _result(record, person)


def _score(
    ctx: Services, template: TemplateRecord, embedding: Embedding, scopes: Collection[str]
) -> float | None:
    """The cosine of the probe and a template that may match here (None: it may not, or its
    sealed bytes fail authentication - the integrity check quarantines those)."""
    if not template.usable or template.scope not in scopes:
        return None
    if template.model_version != ctx.gallery.model_version:
        return None
    try:
        plain = ctx.sealer.open(
            template.sealed, template_id=template.id, model_version=template.model_version
        )
    except InvalidInput:
        return None
    vector = np.frombuffer(plain, dtype="<f4")
    if vector.shape != embedding.shape:
        return None
    return float(np.dot(vector, embedding))


def resolve_second_factor(
    *, ctx: Services, hospital_id: str, actor: str, identification_id: str, last4: str
) -> IdentificationResult:
    """Pick among an ambiguous identification's contenders by the last 4 of phone or ID number."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        record = usable_identification(uow, identification_id, hospital_id, now)
        if record.decision != "ambiguous":
            raise Conflict("this identification needs no second factor", code="not_ambiguous")
        if record.failed_attempts >= MAX_SECOND_FACTOR_ATTEMPTS:
            raise Forbidden("too many attempts; please ask staff", code="second_factor_locked")
        people = uow.people.get_many(list(record.contenders))
        # Every contender is checked, so the time taken does not depend on which one matched.
        matches = [p for p in people.values() if p.second_factor_matches(last4)]
        if len(matches) != 1:
            uow.identifications.save(replace(record, failed_attempts=record.failed_attempts + 1))
            audit(
                ctx,
                uow,
                actor=actor,
                action="patient.second_factor_failed",
                subject=record.id,
                details={"hospital": hospital_id},
            )
            uow.commit()
            raise Forbidden("the digits do not match", code="second_factor_failed")
        person = matches[0]
        resolved = replace(record, method="second_factor", decision="match", person_id=person.id)
        uow.identifications.save(resolved)
        audit(
            ctx,
            uow,
            actor=actor,
            action="patient.second_factor",
            subject=record.id,
            details={"hospital": hospital_id, "person": person.id},
        )
        uow.commit()
    return _result(resolved, person)


def identify_by_credentials(
    *, ctx: Services, hospital_id: str, actor: str, id_number: str, insurance_card_number: str
) -> IdentificationResult:
    """Identify without a face: ID number and insurance card number must both match."""
    refused = Forbidden("ID number and insurance card do not match", code="credentials_failed")
    try:
        number = normalise_id_number(id_number)
    except InvalidInput:
        raise refused from None
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        person = uow.people.by_id_number(number)
        card = person.insurance_card_number if person else "-"
        if person is None or not hmac.compare_digest(
            card.encode(), insurance_card_number.strip().encode()
        ):
            raise refused
        record = _new_record(
            ctx,
            hospital_id,
            method="credentials",
            decision="match",
            person_id=person.id,
            contenders=(),
        )
        uow.identifications.add(record)
        audit(
            ctx,
            uow,
            actor=actor,
            action="patient.identify",
            subject=record.id,
            details={
                "hospital": hospital_id,
                "decision": "match",
                "person": person.id,
                "method": "credentials",
            },
        )
        uow.commit()
    return _result(record, person)


def usable_identification(
    uow: UnitOfWork, identification_id: str, hospital_id: str, now: datetime
) -> IdentificationRecord:
    """The identification, if it is of this hospital, unused and not expired."""
    record = uow.identifications.get(identification_id, hospital_id)
    if record is None:
        raise NotFound("no such identification")
    if record.used_at is not None:
        raise Conflict("this identification was used already", code="identification_used")
    if now > record.expires_at:
        raise Conflict("this identification has expired", code="identification_expired")
    return record


def _new_record(
    ctx: Services,
    hospital_id: str,
    *,
    method: IdentificationMethod,
    decision: IdentificationDecision,
    person_id: str | None,
    contenders: tuple[str, ...],
) -> IdentificationRecord:
    now = ctx.clock.now()
    return IdentificationRecord(
        id=new_id("idn"),
        hospital_id=hospital_id,
        method=method,
        decision=decision,
        person_id=person_id,
        contenders=contenders if decision == "ambiguous" else (),
        created_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.identification_ttl_seconds),
    )


def _result(record: IdentificationRecord, person: InsuredPerson | None) -> IdentificationResult:
    return IdentificationResult(
        identification_id=record.id,
        decision=record.decision,
        method=record.method,
        person_id=record.person_id,
        needs_second_factor=record.decision == "ambiguous",
        expires_at=record.expires_at,
        display_name=mask_name(person.name) if person else None,
        category=person.category if person else None,
    )
