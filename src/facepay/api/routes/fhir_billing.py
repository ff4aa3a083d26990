"""FHIR Invoice and ChargeItem: the hospital system pushes charges and reads payment status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from facepay.access.rbac import Permission, Principal
from facepay.adapters.fhir import billing
from facepay.adapters.fhir.common import SID_BILL_REF, facepay_id, parse_json
from facepay.adapters.fhir.search import Search, token
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.problems import PreconditionFailed
from facepay.api.routes.fhir_common import (
    Body,
    Json,
    base_url,
    fhir_response,
    one_page,
    paged_bundle,
    record_query,
    search_of,
)
from facepay.hospital.bills import PostedBill
from facepay.services import his_bills, his_records
from facepay.shared.errors import BadRequest, NotFound

router = APIRouter()


@router.post("/Invoice")
def push_invoice(
    request: Request,
    body: Body,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_CREATE)],
    _: None = Json,
) -> Response:
    """Push an Invoice (contained ChargeItems) or a transaction Bundle: 201 with the new
    Invoice, 200 with the stored one when the same identifier and content came before."""
    site = his_records.site(ctx=state.services, hospital_id=who.hospital)
    pushed = billing.read_push(parse_json(body), site_tier=site.hospital.tier)
    _check_condition(request.headers.get("if-none-exist"), pushed.external_ref)
    result = his_bills.push_bill(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        external_ref=pushed.external_ref,
        bill=pushed.bill,
        person_id=pushed.patient.person_id,
        id_number=pushed.patient.id_number,
        point_of_sale=pushed.point_of_sale,
        line_orders=pushed.line_orders,
    )
    resource = billing.invoice_resource(result.bill, site_id=who.hospital)
    location = f"{base_url(request)}/Invoice/{resource['id']}"
    return fhir_response(resource, 201 if result.created else 200, Location=location)


def _check_condition(condition: str | None, external_ref: str) -> None:
    """`If-None-Exist: identifier=[system|]value`: the push is idempotent on its identifier
    anyway, so the only condition that makes sense names that identifier."""
    if condition is None:
        return
    name, _, value = condition.partition("=")
    if name != "identifier" or not value:
        raise PreconditionFailed(
            "If-None-Exist: identifier=[system|]value only", code="fhir_precondition_failed"
        )
    if token(value)[1] != external_ref:
        raise PreconditionFailed(
            "If-None-Exist names another identifier than the Invoice's",
            code="fhir_precondition_failed",
        )


def _bill(state: StateDep, who: Principal, fhir: str) -> PostedBill:
    bill_id = facepay_id(fhir, kind="bil")
    if bill_id is None:
        raise NotFound("no such invoice")
    return his_records.bill(ctx=state.services, hospital_id=who.hospital, bill_id=bill_id)


@router.get("/Invoice/{fhir_id}")
def read_invoice(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    _: None = Json,
) -> Response:
    """One Invoice of the caller's site: issued, balanced (paid) or cancelled (refunded)."""
    posted = _bill(state, who, fhir_id)
    return fhir_response(billing.invoice_resource(posted, site_id=who.hospital))


@router.get("/Invoice")
def search_invoices(
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    _: None = Json,
) -> Response:
    """The site's Invoices by identifier, patient, status and date, oldest first, paged."""
    search = search_of(request, state, "Invoice")
    statuses = None
    if search.statuses is not None:
        unknown = search.statuses - set(billing.BILL_STATUSES)
        if unknown:
            raise BadRequest("status: issued, balanced or cancelled", code="fhir_bad_search")
        statuses = frozenset().union(*(billing.BILL_STATUSES[s] for s in search.statuses))
    if search.identifier is not None:
        return fhir_response(_by_identifier(request, state, who, search, statuses))
    query = record_query(who.hospital, search, statuses=statuses)
    rows = his_records.bills(ctx=state.services, query=query)
    return fhir_response(
        paged_bundle(
            request,
            search,
            rows,
            key=lambda b: (b.created_at, b.id),
            render=lambda b: billing.invoice_resource(b, site_id=who.hospital),
        )
    )


def _by_identifier(
    request: Request,
    state: StateDep,
    who: Principal,
    search: Search,
    statuses: frozenset[str] | None,
) -> dict[str, object]:
    assert search.identifier is not None
    system, value = search.identifier
    found = None
    if system in (None, SID_BILL_REF):
        found = his_records.bill_by_ref(
            ctx=state.services, hospital_id=who.hospital, external_ref=value
        )
    matches = found is not None and (statuses is None or found.status in statuses)
    if found is not None and search.patient is not None:
        matches = matches and facepay_id(search.patient, kind="psn") == found.person_id
    if found is not None and (search.since or search.until):
        since, until = search.since, search.until
        matches = matches and (since is None or found.created_at >= since)
        matches = matches and (until is None or found.created_at < until)
    resources = [billing.invoice_resource(found, site_id=who.hospital)] if found and matches else []
    return one_page(request, resources if search.cursor is None else [])


@router.get("/ChargeItem/{fhir_id}")
def read_charge_item(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BILL_READ)],
    _: None = Json,
) -> Response:
    """One line of a pushed Invoice."""
    bill_part = fhir_id.rpartition(".")[0]
    posted = _bill(state, who, bill_part or fhir_id)
    for line in posted.bill.lines:
        if billing.charge_item_id(posted.id, line.code) == fhir_id:
            return fhir_response(billing.charge_item_resource(posted, line))
    raise NotFound("no such charge item")
