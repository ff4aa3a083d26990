"""FHIR MedicationRequest (the drug lines of the site's dispensing orders) and
MedicationDispense (what was handed over of each), read and searched.

A search pages forward only (`next` links): its page key is the line's (order time, order id
and line number), and a `status` filter is applied to the lines of the orders read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from facepay.access.rbac import Permission, Principal
from facepay.adapters.fhir import medication
from facepay.adapters.fhir.capability import searchset
from facepay.adapters.fhir.common import facepay_id
from facepay.adapters.fhir.search import Cursor
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.routes.fhir_common import (
    Json,
    base_url,
    fhir_response,
    page_link,
    record_query,
    search_of,
)
from facepay.hospital.orders import DispensingLine, LineState
from facepay.services import his_records
from facepay.shared.errors import BadRequest, NotFound

router = APIRouter()
Reader = Annotated[Principal, may(Permission.DISPENSING_READ)]
Render = Callable[[his_records.DrugLine], dict[str, Any]]


def _line(state: StateDep, who: Principal, fhir_id: str, what: str) -> his_records.DrugLine:
    order, _, number = fhir_id.rpartition(".")
    found = facepay_id(order, kind="dsp")
    if found is None or not number.isdigit() or len(number) > 4:
        raise NotFound(f"no such {what}")
    return his_records.drug_line(
        ctx=state.services, hospital_id=who.hospital, order_id=found, number=int(number)
    )


def _search(
    request: Request,
    *,
    state: StateDep,
    who: Principal,
    resource_type: str,
    statuses: Mapping[LineState, str],
    render: Render,
) -> Response:
    search = search_of(request, state, resource_type)
    wanted = search.statuses
    known = set(statuses.values())
    if wanted is not None and not wanted <= known:
        raise BadRequest(f"status: {', '.join(sorted(known))}", code="fhir_bad_search")
    cursor = search.cursor
    if cursor is not None and cursor.direction != "after":
        raise BadRequest("_page: these searches page forward only", code="fhir_bad_page")

    def keep(line: DispensingLine) -> bool:
        return wanted is None or statuses[line.state] in wanted

    query = record_query(
        who.hospital,
        search,
        statuses=medication.order_statuses(wanted) if wanted is not None else None,
    )
    lines, resume = his_records.drug_lines(
        ctx=state.services,
        query=query,
        keep=keep,
        after=(cursor.at, cursor.id) if cursor is not None else None,
        limit=search.count,
    )
    bundle = searchset(
        base_url=base_url(request),
        resources=[render(line) for line in lines],
        self_link=str(request.url),
        next_link=page_link(request, Cursor("after", *resume)) if resume else None,
        total=len(lines) if cursor is None and resume is None else None,
    )
    return fhir_response(bundle)


def _request(line: his_records.DrugLine) -> dict[str, Any]:
    return medication.medication_request_resource(line.order, line.number, line.bill)


def _dispense(line: his_records.DrugLine) -> dict[str, Any]:
    return medication.medication_dispense_resource(line.order, line.number)


@router.get("/MedicationRequest/{fhir_id}")
def read_medication_request(
    fhir_id: str,
    state: StateDep,
    who: Reader,
    _: None = Json,
) -> Response:
    """Line <n> of a dispensing order of the caller's site: `<order id>.<n>`."""
    return fhir_response(_request(_line(state, who, fhir_id, "medication request")))


@router.get("/MedicationRequest")
def search_medication_requests(
    request: Request,
    state: StateDep,
    who: Reader,
    _: None = Json,
) -> Response:
    """The site's drug lines by patient, status and date (the order's), oldest first, paged."""
    return _search(
        request,
        state=state,
        who=who,
        resource_type="MedicationRequest",
        statuses=medication.REQUEST_STATUS,
        render=_request,
    )


@router.get("/MedicationDispense/{fhir_id}")
def read_medication_dispense(
    fhir_id: str,
    state: StateDep,
    who: Reader,
    _: None = Json,
) -> Response:
    """What was handed over of line <n> of a dispensing order: `<order id>.<n>`."""
    return fhir_response(_dispense(_line(state, who, fhir_id, "medication dispense")))


@router.get("/MedicationDispense")
def search_medication_dispenses(
    request: Request,
    state: StateDep,
    who: Reader,
    _: None = Json,
) -> Response:
    """The collections of the site's drug lines by patient and status, oldest first, paged."""
    return _search(
        request,
        state=state,
        who=who,
        resource_type="MedicationDispense",
        statuses=medication.DISPENSE_STATUS,
        render=_dispense,
    )
