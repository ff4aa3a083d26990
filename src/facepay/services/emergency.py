"""Emergency use cases: identify across the region, open a record, charge it, merge it.

Treatment is never blocked on payment: a record takes charges whoever the patient is, each one
posted as arrears (facepay.services.emergency_arrears). The region-wide face search is the one
place a site matches faces enrolled only at other sites, so it is staff-only (the route takes no
terminal), needs a reason code, and every search is audited with its reason, capture mode and
outcome. Its result proves identity for one merge at the same site; it never pays a bill.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from facepay.hospital.bills import PostedBill
from facepay.hospital.emergency import (
    TIER_NUMBERS,
    CaptureMode,
    EmergencyCharge,
    EmergencyIdentification,
    EmergencyReason,
    EmergencyRecord,
    Sex,
    merged_bill,
    record_number,
)
from facepay.hospital.tenants import match_scopes, region_wide_scopes
from facepay.insurance.model import BillLine, VisitType
from facepay.services.bills import registered_person
from facepay.services.context import Services
from facepay.services.emergency_arrears import post_charge, post_merge, record_arrears
from facepay.services.identification import match_in_scopes, usable_identification
from facepay.services.ports import UnitOfWork
from facepay.services.presence import attend
from facepay.services.support import (
    IDENTIFY_FRAMES,
    audit,
    capture_embedding,
    mask_name,
    require_hospital,
    require_live,
    require_live_assisted,
)
from facepay.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from facepay.shared.ids import new_id
from facepay.vision.liveness import Capture

EMERGENCY_ID_PREFIX = "emi"
MAX_LIST = 200


@dataclass(frozen=True)
class EmergencyIdentificationResult:
    """Who the region knows this face as (masked), or that nobody is known (`person_id` None)."""

    identification_id: str
    decision: str
    person_id: str | None
    display_name: str | None
    category: str | None
    enrolled_here: bool | None
    """Whether the matched template is of this site's own scopes (None: no match)."""
    expires_at: datetime
    sites_searched: int


@dataclass(frozen=True)
class ChargeResult:
    """A charge, the record after it, and `replayed` when the key was seen with the same lines."""

    charge: EmergencyCharge
    record: EmergencyRecord
    replayed: bool


@dataclass(frozen=True)
class MergeResult:
    """The merged record, the person's new open bill, and the fen moved to the person."""

    record: EmergencyRecord
    bill: PostedBill
    moved_fen: int


@dataclass(frozen=True)
class RecordView:
    """A record with its charges and what its arrears account owes now (fen)."""

    record: EmergencyRecord
    charges: tuple[EmergencyCharge, ...]
    arrears_fen: int


def identify_emergency(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    capture: Capture,
    mode: CaptureMode,
    reason: EmergencyReason,
) -> EmergencyIdentificationResult:
    """Liveness (as the mode says), then 1:N over every scope of the site's region, audited."""
    if mode == "assisted":
        liveness = require_live_assisted(
            ctx, capture=capture, hospital_id=hospital_id, actor=actor
        ).reason
    elif mode == "cooperative":
        require_live(ctx, capture=capture, hospital_id=hospital_id, actor=actor)
        liveness = "challenge answered"
    else:
        raise InvalidInput("mode: cooperative or assisted", code="bad_emergency")
    embedding = capture_embedding(ctx, capture, frames=IDENTIFY_FRAMES)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        site = require_hospital(uow, hospital_id)
        sites = [s.id for s in uow.tenants.sites(site.region_id)]
        scopes = region_wide_scopes(site.region_id, [*sites, site.id])
        result, persons = match_in_scopes(ctx, uow, embedding, scopes)
        person_id = persons[0] if result.decision == "match" else None
        record = EmergencyIdentification(
            id=new_id(EMERGENCY_ID_PREFIX),
            hospital_id=hospital_id,
            actor=actor,
            reason=reason,
            mode=mode,
            decision=result.decision,
            person_id=person_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.identification_ttl_seconds),
        )
        uow.emergency.add_identification(record)
        enrolled_here = None
        if result.decision == "match" and result.template_id is not None:
            owner = uow.templates.get_many([result.template_id]).get(result.template_id)
            enrolled_here = owner is not None and owner.scope in match_scopes(site)
        audit(
            ctx,
            uow,
            actor=actor,
            action="emergency.identify",
            subject=record.id,
            details={
                "hospital": hospital_id,
                "region": site.region_id,
                "reason": reason.code,
                "note": reason.note,
                "mode": mode,
                "liveness": liveness,
                "decision": result.decision,
                "why": result.why,
                "person": person_id,
                "sites_searched": len(set(sites) | {site.id}),
                "enrolled_here": enrolled_here,
            },
        )
        person = uow.people.get(person_id) if person_id else None
        uow.commit()
    return EmergencyIdentificationResult(
        identification_id=record.id,
        decision=record.decision,
        person_id=person_id,
        display_name=mask_name(person.name) if person else None,
        category=person.category if person else None,
        enrolled_here=enrolled_here,
        expires_at=record.expires_at,
        sites_searched=len(set(sites) | {site.id}),
    )


def open_record(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    visit_type: VisitType,
    sex: Sex,
    estimated_age: int | None,
    notes: str,
    identification_id: str | None = None,
    patient_id: str | None = None,
    staff_confirmed: bool = True,
) -> EmergencyRecord:
    """Open a record with the day's next ER number: for an unknown patient, or (with an
    identification) a known one who cannot pay now - identified themself, or through a proxy
    with a live check_in grant for `patient_id`."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        record_id = new_id("emr")
        evidence: dict[str, object] = {}
        person_id = None
        if identification_id is not None:
            person_id, evidence = _identified(
                uow,
                hospital_id,
                identification_id,
                now,
                patient_id=patient_id,
                used_for=record_id,
                staff_confirmed=staff_confirmed,
            )
        elif patient_id is not None:
            raise InvalidInput(
                "identify the patient, or their proxy, first (an identification id)",
                code="emergency_identification_required",
            )
        number = uow.emergency.next_number(hospital_id, now.date())
        record = EmergencyRecord(
            id=record_id,
            hospital_id=hospital_id,
            number=record_number(now.date(), number),
            visit_type=visit_type,
            sex=sex,
            estimated_age=estimated_age,
            notes=notes,
            person_id=person_id,
            status="open",
            opened_at=now,
            opened_by=actor,
        )
        uow.emergency.add_record(record)
        audit(
            ctx,
            uow,
            actor=actor,
            action="emergency.open",
            subject=record.id,
            details={
                "hospital": hospital_id,
                "record": record.number,
                "visit_type": visit_type,
                "person": person_id,
                **evidence,
            },
        )
        uow.commit()
    return record


def charge_record(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    record_id: str,
    lines: tuple[BillLine, ...],
    idempotency_key: str,
) -> ChargeResult:
    """Add lines to an open record and post them as its arrears, once per idempotency key."""
    now = ctx.clock.now()
    fingerprint = _fingerprint(record_id, lines)
    with ctx.uow() as uow:
        record = _record(uow, record_id, hospital_id)  # locked: one charge at a time
        existing = uow.emergency.charge_by_key(hospital_id, idempotency_key)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise Conflict(
                    "this idempotency key was used for another charge",
                    code="idempotency_conflict",
                )
            return ChargeResult(existing, record, replayed=True)
        total = record.check_chargeable(lines)
        charge = EmergencyCharge(
            id=new_id("emc"),
            record_id=record.id,
            hospital_id=hospital_id,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            lines=lines,
            total=total,
            posting_key=f"emergency.charge:{idempotency_key}",
            charged_at=now,
            actor=actor,
        )
        post_charge(uow, record, amount=total, key=charge.posting_key, now=now)
        uow.emergency.add_charge(charge)
        charged = replace(
            record,
            charged_fen=record.charged_fen + total,
            line_count=record.line_count + len(lines),
        )
        uow.emergency.save_record(charged)
        audit(
            ctx,
            uow,
            actor=actor,
            action="emergency.charge",
            subject=record.id,
            details={
                "hospital": hospital_id,
                "record": record.number,
                "charge": charge.id,
                "lines": len(lines),
                "total_fen": total,
                "charged_fen": charged.charged_fen,
            },
        )
        uow.commit()
    return ChargeResult(charge, charged, replayed=False)


def merge_record(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    record_id: str,
    identification_id: str | None,
    hospital_tier: int | None = None,
    patient_id: str | None = None,
    staff_confirmed: bool = True,
) -> MergeResult:
    """Give a record's charges to the identified person (or to `patient_id`, whose proxy with a
    live check_in grant was identified): one open bill of theirs at this site, the arrears
    moved to them; the record takes no more charges."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        site = require_hospital(uow, hospital_id)
        record = _record(uow, record_id, hospital_id)
        if record.status != "open":
            raise Conflict(
                f"record {record.number} is merged already, into bill {record.bill_id}",
                code="emergency_already_merged",
            )
        person_id = record.person_id
        if patient_id is not None and person_id is not None and patient_id != person_id:
            raise _mismatch()
        evidence: dict[str, object] = {}
        if identification_id is not None:
            person_id, evidence = _identified(
                uow,
                hospital_id,
                identification_id,
                now,
                patient_id=person_id or patient_id,
                used_for=record.id,
                staff_confirmed=staff_confirmed,
            )
        if person_id is None:
            raise InvalidInput(
                "identify the patient first (an identification id)",
                code="emergency_identification_required",
            )
        person = registered_person(uow, person_id)
        tier = TIER_NUMBERS.get(site.tier) if site.tier else hospital_tier
        if tier is None:
            raise InvalidInput(
                "this site has no tier on record: give hospital_tier", code="hospital_tier_required"
            )
        bill = merged_bill(record, uow.emergency.charges_of(record.id), hospital_tier=tier)
        ctx.policies.pick(service_date=bill.service_date, category=person.category)
        posted = PostedBill(
            id=new_id("bil"),
            hospital_id=hospital_id,
            person_id=person.id,
            external_ref=record.number,
            bill=bill,
            point_of_sale="hospital",
            status="open",
            created_at=now,
        )
        uow.bills.add(posted)
        post_merge(uow, record, person_id=person.id, now=now)
        merged = replace(
            record,
            person_id=person.id,
            status="merged",
            merged_at=now,
            merged_by=actor,
            bill_id=posted.id,
        )
        uow.emergency.save_record(merged)
        audit(
            ctx,
            uow,
            actor=actor,
            action="emergency.merge",
            subject=record.id,
            details={
                "hospital": hospital_id,
                "record": record.number,
                "person": person.id,
                "bill": posted.id,
                "moved_fen": record.charged_fen,
                "bill_total_fen": posted.total,
                "lines": len(bill.lines),
                **evidence,
            },
        )
        uow.commit()
    return MergeResult(merged, posted, record.charged_fen)


def get_record(*, ctx: Services, hospital_id: str, record_id: str) -> RecordView:
    """One record of the site with its charges and what its arrears account owes."""
    with ctx.uow() as uow:
        record = _record(uow, record_id, hospital_id)
        charges = tuple(uow.emergency.charges_of(record.id))
        account = uow.ledger.lock_accounts([record_arrears(record)]).get(record_arrears(record))
    return RecordView(record, charges, account.balance if account else 0)


def list_records(
    *, ctx: Services, hospital_id: str, status: str | None, limit: int = 50
) -> list[EmergencyRecord]:
    """The site's records, newest first (open ones only, merged ones only, or all)."""
    if status not in (None, "open", "merged", "settled"):
        raise InvalidInput("status: open, merged or settled", code="bad_emergency")
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        return uow.emergency.records(hospital_id, status=status, limit=min(limit, MAX_LIST))


def _record(uow: UnitOfWork, record_id: str, hospital_id: str) -> EmergencyRecord:
    record = uow.emergency.record(record_id, hospital_id)
    if record is None:
        raise NotFound("no such emergency record")
    return record


def _identified(
    uow: UnitOfWork,
    hospital_id: str,
    identification_id: str,
    now: datetime,
    *,
    patient_id: str | None,
    used_for: str,
    staff_confirmed: bool,
) -> tuple[str, dict[str, object]]:
    """The patient an identification of this site proves present, which it spends, and who
    stood there for the audit: an emergency desk's region-wide one (`emi_...`: the patient's
    own face), or the site's own by face or card (`idn_...`) of the patient or of a proxy with
    a live check_in grant for `patient_id` (facepay.services.presence.attend). `patient_id`
    None: the identified person is the patient."""
    if identification_id.startswith(f"{EMERGENCY_ID_PREFIX}_"):
        found = uow.emergency.identification(identification_id, hospital_id)
        if found is None:
            raise NotFound("no such identification")
        if found.used_at is not None:
            raise Conflict("this identification was used already", code="identification_used")
        if now > found.expires_at:
            raise Conflict("this identification has expired", code="identification_expired")
        if found.decision != "match" or found.person_id is None:
            raise Forbidden("this identification found nobody", code="not_identified")
        if patient_id is not None and found.person_id != patient_id:
            raise _mismatch()
        uow.emergency.save_identification(replace(found, used_at=now, used_for=used_for))
        return found.person_id, {
            "patient": found.person_id,
            "present": found.person_id,
            "proxy_grant": None,
            "identification": found.id,
            "method": f"emergency_{found.mode}",
        }
    record = usable_identification(uow, identification_id, hospital_id, now)
    if record.decision != "match" or record.person_id is None:
        raise Forbidden("this identification found nobody", code="not_identified")
    try:
        presence = attend(
            uow,
            identification_id=identification_id,
            hospital_id=hospital_id,
            patient_id=patient_id or record.person_id,
            act="check_in",
            used_for=used_for,
            now=now,
            staff_confirmed=staff_confirmed,
        )
    except Forbidden as refused:
        if refused.code != "not_the_patient":
            raise
        raise _mismatch() from None
    return presence.patient_id, presence.audit_details()


def _mismatch() -> Conflict:
    return Conflict(
        "the identification is of another person than the record's (nor of their proxy)",
        code="emergency_person_mismatch",
    )


def _fingerprint(record_id: str, lines: tuple[BillLine, ...]) -> str:
    body = repr((record_id, [sorted(vars(line).items()) for line in lines]))
    return hashlib.sha256(body.encode()).hexdigest()
