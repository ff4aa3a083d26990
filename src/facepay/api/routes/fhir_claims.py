"""FHIR Claim, ClaimResponse, PaymentNotice and PaymentReconciliation of the caller's site."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from facepay.access.rbac import Permission, Principal
from facepay.adapters.fhir import claims
from facepay.adapters.fhir.common import facepay_id, fhir_id, parse_json, reference_id
from facepay.adapters.fhir.search import Search
from facepay.api.access import may
from facepay.api.deps import ApiState, StateDep
from facepay.api.routes.fhir_common import (
    Body,
    Json,
    fhir_response,
    one_page,
    paged_bundle,
    record_query,
    search_of,
)
from facepay.services import bills as bill_service
from facepay.services import his_records
from facepay.services.ports import SettlementRecord
from facepay.shared.errors import BadRequest, InvalidInput, NotFound

router = APIRouter()


def _region(state: ApiState, hospital_id: str) -> tuple[str, str | None]:
    site = his_records.site(ctx=state.services, hospital_id=hospital_id)
    return site.hospital.region_id, site.region.name if site.region else None


@router.post("/Claim")
def preauthorize(
    body: Body,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PAYMENT_PRESETTLE)],
    _: None = Json,
) -> Response:
    """A Claim of use = preauthorization naming an Invoice: the pre-settlement as a
    ClaimResponse (200; nothing is stored or moved)."""
    document = parse_json(body)
    bill_id = claims.preauthorized_invoice(document)
    result = bill_service.presettle(ctx=state.services, hospital_id=who.hospital, bill_id=bill_id)
    claimed = reference_id((document.get("patient") or {}).get("reference"), "Patient")
    if claimed is not None and facepay_id(claimed) != result.bill.person_id:
        raise InvalidInput("Claim.patient is not the Invoice's patient", code="fhir_bad_claim")
    region_id, region_name = _region(state, who.hospital)
    return fhir_response(
        claims.claim_response(
            settlement=result.settlement,
            bill=result.bill.bill,
            patient_id=result.bill.person_id,
            created=state.services.clock.now(),
            region_id=region_id,
            region_name=region_name,
            site_id=who.hospital,
        )
    )


def _settlement(state: ApiState, who: Principal, fhir: str) -> SettlementRecord:
    settlement_id = facepay_id(fhir, kind="stl")
    if settlement_id is None:
        raise NotFound("no such settlement")
    return his_records.settlement(
        ctx=state.services, hospital_id=who.hospital, settlement_id=settlement_id
    )


Bureau = tuple[str, str | None]


def _claim(who: Principal, bureau: Bureau, record: SettlementRecord) -> dict[str, Any]:
    return claims.claim_resource(
        record, region_id=bureau[0], region_name=bureau[1], site_id=who.hospital
    )


def _response(who: Principal, bureau: Bureau, record: SettlementRecord) -> dict[str, Any]:
    return claims.claim_response(
        settlement=record.settlement,
        bill=record.bill,
        patient_id=record.person_id,
        created=record.created_at,
        region_id=bureau[0],
        region_name=bureau[1],
        site_id=who.hospital,
        record=record,
    )


@router.get("/Claim/{fhir_id}")
def read_claim(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    _: None = Json,
) -> Response:
    """A paid bill's settlement as a Claim (use = claim)."""
    record = _settlement(state, who, fhir_id)
    return fhir_response(_claim(who, _region(state, who.hospital), record))


@router.get("/ClaimResponse/{fhir_id}")
def read_claim_response(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    _: None = Json,
) -> Response:
    """A settlement's adjudication: every national amount as a `total`."""
    record = _settlement(state, who, fhir_id)
    return fhir_response(_response(who, _region(state, who.hospital), record))


def _search_settlements(
    request: Request, state: ApiState, who: Principal, kind: str
) -> dict[str, Any]:
    search: Search = search_of(request, state, kind)
    rows = his_records.settlements(ctx=state.services, query=record_query(who.hospital, search))
    render = _claim if kind == "Claim" else _response
    bureau = _region(state, who.hospital)  # once per page, not once per entry
    return paged_bundle(
        request,
        search,
        rows,
        key=lambda r: (r.created_at, r.id),
        render=lambda r: render(who, bureau, r),
    )


@router.get("/Claim")
def search_claims(
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    _: None = Json,
) -> Response:
    """The site's settlements as Claims, by patient and date, oldest first, paged."""
    return fhir_response(_search_settlements(request, state, who, "Claim"))


@router.get("/ClaimResponse")
def search_claim_responses(
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    _: None = Json,
) -> Response:
    """The site's settlements as ClaimResponses, by patient and date, oldest first, paged."""
    return fhir_response(_search_settlements(request, state, who, "ClaimResponse"))


def _zone(state: ApiState) -> timezone:
    return timezone(timedelta(minutes=state.services.settings.hospital_utc_offset_minutes))


@router.get("/PaymentNotice/{fhir_id}")
def read_payment_notice(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    _: None = Json,
) -> Response:
    """A bill paid or refunded (the id is `<site>.<outbox position>`)."""
    site, seq = fhir_id.rpartition(".")[::2]
    found = None
    if site == fhir_id_of(who.hospital) and seq.isdigit() and len(seq) <= 12:
        found = his_records.event(ctx=state.services, hospital_id=who.hospital, seq=int(seq))
    if found is None or found.kind not in ("bill.paid", "bill.refunded"):
        raise NotFound("no such payment notice")
    day = found.at.astimezone(_zone(state)).date()
    return fhir_response(claims.payment_notice(found, day=day))


def fhir_id_of(hospital_id: str) -> str:
    """The site's id as FHIR ids carry it."""
    return fhir_id(hospital_id)


FIRST_DAY = date(2000, 1, 1)


def _reconcilable(state: ApiState, day: date | None) -> bool:
    """A day a site can have settled on: from 2000 to tomorrow."""
    today = state.services.clock.now().date()
    return day is not None and FIRST_DAY <= day <= today + timedelta(days=1)


def _reconciliation(state: ApiState, who: Principal, day: date) -> dict[str, Any]:
    zone = _zone(state)
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    end = start + timedelta(days=1)
    settled, reversed_ = his_records.day_of_site(
        ctx=state.services,
        hospital_id=who.hospital,
        start=start,
        end=end,
        max_records=state.services.settings.fhir_reconciliation_max_details,
    )
    now = state.services.clock.now()
    region_id, region_name = _region(state, who.hospital)
    return claims.payment_reconciliation(
        site_id=who.hospital,
        day=day,
        start=start.astimezone(zone),
        end=end.astimezone(zone),
        settled=settled,
        reversed_=reversed_,
        complete=now >= end,
        created=now,
        region_id=region_id,
        region_name=region_name,
    )


@router.get("/PaymentReconciliation/{fhir_id}")
def read_reconciliation(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    _: None = Json,
) -> Response:
    """The site's day (`<site>.<YYYYMMDD>`): totals and one detail per settlement and refund."""
    site, digits = fhir_id.rpartition(".")[::2]
    try:
        day = date.fromisoformat(f"{digits[:4]}-{digits[4:6]}-{digits[6:]}")
    except ValueError:
        day = None
    if len(digits) != 8 or not digits.isdigit() or not _reconcilable(state, day):
        day = None
    if site != fhir_id_of(who.hospital) or day is None:
        raise NotFound("no such payment reconciliation")
    return fhir_response(_reconciliation(state, who, day))


@router.get("/PaymentReconciliation")
def search_reconciliations(
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    _: None = Json,
) -> Response:
    """The site's reconciliation of one day: `date=YYYY-MM-DD` (or `eqYYYY-MM-DD`)."""
    search = search_of(request, state, "PaymentReconciliation")
    value = request.query_params.get("date", "").removeprefix("eq")
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or len(request.query_params.getlist("date")) != 1:
        raise BadRequest("search by one day: date=YYYY-MM-DD", code="fhir_bad_search")
    if not _reconcilable(state, day):
        return fhir_response(one_page(request, []))  # no site has a day that far out
    found = [_reconciliation(state, who, day)] if search.cursor is None else []
    return fhir_response(one_page(request, found))
