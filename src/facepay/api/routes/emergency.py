"""The emergency desk: identify a patient across the region, open a record, charge it, merge it.

Staff only: no terminal identifies across the region or charges a record. Charges carry an
Idempotency-Key; amounts come from the lines, as on a bill. Everything is of the caller's site
(another site's record answers 404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import Field

from facepay.access.rbac import Permission, Principal, PrincipalKind
from facepay.api.access import may
from facepay.api.deps import IdempotencyKey, StateDep
from facepay.api.images import capture_from
from facepay.api.problems import errors
from facepay.api.routes.bills import BillLineRead, BillRead, FeeLineCreate, bill_read
from facepay.api.routes.patients import capture_limits, counted_liveness, decoded_capture
from facepay.api.schemas import CaptureCreate, Id, PlainText, RequestModel, ResponseModel
from facepay.hospital.emergency import (
    MAX_NOTE,
    MAX_NOTES,
    EmergencyCharge,
    EmergencyReason,
    EmergencyRecord,
)
from facepay.insurance.model import BillLine
from facepay.services import emergency
from facepay.shared.money import round_half_up

router = APIRouter(prefix="/v1/emergency", tags=["emergency"])


class EmergencyIdentificationCreate(RequestModel):
    """A capture of the patient's face, how it was taken, and why the region is searched."""

    capture: CaptureCreate
    mode: Literal["cooperative", "assisted"]
    """`cooperative`: the capture answers a challenge from POST /v1/liveness/challenges.
    `assisted`: the patient cannot act; staff film without a challenge, moving the camera
    slowly round the face, and the server judges liveness from that movement."""
    reason: Literal["unconscious", "confused", "no_documents", "minor_alone", "other"]
    note: Annotated[PlainText, Field(min_length=1, max_length=MAX_NOTE)] | None = None
    """Required with reason `other`."""


class EmergencyIdentificationRead(ResponseModel):
    """Whom the region knows this face as (masked), or `known` false."""

    identification_id: str
    """Proves the identity for one merge at this site (never pays a bill)."""
    known: bool
    decision: Literal["match", "ambiguous", "no_match"]
    person_id: str | None
    display_name: str | None
    category: str | None
    enrolled_here: bool | None
    expires_at: datetime
    sites_searched: int


class EmergencyRecordCreate(RequestModel):
    """What the desk can tell of the patient; an identification when they are known."""

    visit_type: Literal["outpatient", "inpatient"] = "outpatient"
    sex: Literal["M", "F", "U"] = "U"
    estimated_age: Annotated[int, Field(strict=True, ge=0, le=130)] | None = None
    notes: Annotated[PlainText, Field(max_length=MAX_NOTES)] = ""
    identification_id: Id | None = None
    """A known patient who cannot pay now: an identification of this site (card, face, or an
    emergency one); it is spent."""
    patient_id: Id | None = None
    """The patient, when the identification is of their registered proxy (a grant for
    check_in); absent, the identified person is the patient."""


class EmergencyChargeCreate(RequestModel):
    """Lines of treatment given, priced as a bill's."""

    lines: Annotated[list[FeeLineCreate], Field(min_length=1, max_length=200)]


class EmergencyMergeCreate(RequestModel):
    """The identification of the real person (not needed if the record was opened for them)."""

    identification_id: Id | None = None
    hospital_tier: Annotated[int, Field(strict=True, ge=1, le=3)] | None = None
    """The site's grade for the bill, when the site has none on record."""
    patient_id: Id | None = None
    """The patient, when the identification is of their registered proxy (a grant for
    check_in) and the record was opened for nobody known."""


class EmergencyChargeRead(ResponseModel):
    """One charge of a record."""

    id: str
    total: int
    lines: list[BillLineRead]
    charged_at: datetime


class EmergencyRecordRead(ResponseModel):
    """A record: its number, the patient as far as known, what it owes and where it went."""

    id: str
    number: str
    status: Literal["open", "merged", "settled"]
    visit_type: str
    sex: str
    estimated_age: int | None
    notes: str
    person_id: str | None
    charged_fen: int
    line_count: int
    arrears_fen: int | None = None
    """What the record's own arrears account owes now (0 once merged: the person owes it)."""
    opened_at: datetime
    merged_at: datetime | None
    bill_id: str | None
    charges: list[EmergencyChargeRead] | None = None


class EmergencyChargeResultRead(ResponseModel):
    """The charge, the record after it, `replayed` on a repeated key."""

    charge: EmergencyChargeRead
    record: EmergencyRecordRead
    replayed: bool


class EmergencyMergeRead(ResponseModel):
    """The merged record and the person's new open bill."""

    record: EmergencyRecordRead
    bill: BillRead
    moved_fen: int


def _lines(lines: tuple[BillLine, ...]) -> list[BillLineRead]:
    return [
        BillLineRead(
            code=line.code,
            name=line.name,
            item_class=line.item_class,
            unit_price=line.unit_price,
            quantity=line.quantity,
            amount=round_half_up(line.unit_price * line.quantity),
        )
        for line in lines
    ]


def _charge(charge: EmergencyCharge) -> EmergencyChargeRead:
    return EmergencyChargeRead(
        id=charge.id, total=charge.total, lines=_lines(charge.lines), charged_at=charge.charged_at
    )


def _record(
    record: EmergencyRecord,
    *,
    arrears: int | None = None,
    charges: tuple[EmergencyCharge, ...] | None = None,
) -> EmergencyRecordRead:
    return EmergencyRecordRead(
        id=record.id,
        number=record.number,
        status=record.status,
        visit_type=record.visit_type,
        sex=record.sex,
        estimated_age=record.estimated_age,
        notes=record.notes,
        person_id=record.person_id,
        charged_fen=record.charged_fen,
        line_count=record.line_count,
        arrears_fen=arrears,
        opened_at=record.opened_at,
        merged_at=record.merged_at,
        bill_id=record.bill_id,
        charges=[_charge(c) for c in charges] if charges is not None else None,
    )


@router.post(
    "/identifications",
    status_code=status.HTTP_201_CREATED,
    response_model=EmergencyIdentificationRead,
    responses=errors(401, 403, 413, 422, 429),
)
def identify(
    body: EmergencyIdentificationCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EMERGENCY_IDENTIFY, terminals=False)],
) -> EmergencyIdentificationRead:
    """Liveness, then 1:N over every site of the region, with a reason; audited."""
    reason = EmergencyReason(body.reason, body.note)
    with counted_liveness(state):
        if body.mode == "assisted":
            capture = capture_from(body.capture, capture_limits(state))
        else:
            capture = decoded_capture(state, who, body.capture)
        result = emergency.identify_emergency(
            ctx=state.services,
            hospital_id=who.hospital,
            actor=who.actor,
            capture=capture,
            mode=body.mode,
            reason=reason,
        )
    return EmergencyIdentificationRead(
        identification_id=result.identification_id,
        known=result.person_id is not None,
        decision=result.decision,
        person_id=result.person_id,
        display_name=result.display_name,
        category=result.category,
        enrolled_here=result.enrolled_here,
        expires_at=result.expires_at,
        sites_searched=result.sites_searched,
    )


@router.post(
    "/records",
    status_code=status.HTTP_201_CREATED,
    response_model=EmergencyRecordRead,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def open_record(
    body: EmergencyRecordCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EMERGENCY_RECORD, terminals=False)],
) -> EmergencyRecordRead:
    """Open a record with the day's next ER number; treatment and charges may start at once."""
    record = emergency.open_record(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        visit_type=body.visit_type,
        sex=body.sex,
        estimated_age=body.estimated_age,
        notes=body.notes,
        identification_id=body.identification_id,
        patient_id=body.patient_id,
        staff_confirmed=who.kind is PrincipalKind.STAFF,
    )
    return _record(record, arrears=0, charges=())


@router.get(
    "/records", response_model=list[EmergencyRecordRead], responses=errors(401, 403, 422, 429)
)
def list_records(
    state: StateDep,
    who: Annotated[Principal, may(Permission.EMERGENCY_RECORD, terminals=False)],
    record_status: Annotated[
        Literal["open", "merged", "settled"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[EmergencyRecordRead]:
    """The site's records, newest first."""
    records = emergency.list_records(
        ctx=state.services, hospital_id=who.hospital, status=record_status, limit=limit
    )
    return [_record(r) for r in records]


@router.get(
    "/records/{record_id}",
    response_model=EmergencyRecordRead,
    responses=errors(401, 403, 404, 422, 429),
)
def get_record(
    record_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EMERGENCY_RECORD, terminals=False)],
) -> EmergencyRecordRead:
    """One record of the site, its charges and what it owes."""
    view = emergency.get_record(ctx=state.services, hospital_id=who.hospital, record_id=record_id)
    return _record(view.record, arrears=view.arrears_fen, charges=view.charges)


@router.post(
    "/records/{record_id}/charges",
    status_code=status.HTTP_201_CREATED,
    response_model=EmergencyChargeResultRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def charge(
    record_id: Id,
    body: EmergencyChargeCreate,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EMERGENCY_RECORD, terminals=False)],
) -> EmergencyChargeResultRead:
    """Charge treatment to an open record: posted as its arrears, never refused for payment."""
    result = emergency.charge_record(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        record_id=record_id,
        lines=tuple(line.to_domain() for line in body.lines),
        idempotency_key=f"{who.hospital}:{key}",
    )
    return EmergencyChargeResultRead(
        charge=_charge(result.charge), record=_record(result.record), replayed=result.replayed
    )


@router.post(
    "/records/{record_id}/merge",
    status_code=status.HTTP_201_CREATED,
    response_model=EmergencyMergeRead,
    responses=errors(401, 403, 404, 409, 422, 429, 503),
)
def merge(
    record_id: Id,
    body: EmergencyMergeCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EMERGENCY_MERGE, terminals=False)],
) -> EmergencyMergeRead:
    """Give the record's charges to the identified person: one open bill of theirs, the arrears
    moved to them; pay that bill as any other (POST /v1/bills/{id}/payments)."""
    result = emergency.merge_record(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        record_id=record_id,
        identification_id=body.identification_id,
        hospital_tier=body.hospital_tier,
        patient_id=body.patient_id,
        staff_confirmed=who.kind is PrincipalKind.STAFF,
    )
    return EmergencyMergeRead(
        record=_record(result.record, arrears=0),
        bill=bill_read(result.bill),
        moved_fen=result.moved_fen,
    )
