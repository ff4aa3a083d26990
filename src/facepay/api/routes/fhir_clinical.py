"""FHIR Encounter (inpatient stays), ServiceRequest (exam and lab orders), DiagnosticReport
(their results: summary and image reference, for the ordering doctor only), Appointment and
Slot (bookings and the numbered places of a session)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from facepay.access.rbac import Permission, Principal
from facepay.adapters.fhir import clinical, scheduling
from facepay.adapters.fhir.capability import searchset
from facepay.adapters.fhir.common import facepay_id
from facepay.adapters.fhir.search import Cursor
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.routes.fhir_common import (
    Json,
    base_url,
    fhir_response,
    one_page,
    page_link,
    paged_bundle,
    patient_filter,
    record_query,
    search_of,
)
from facepay.services import exams, his_records
from facepay.shared.errors import BadRequest, NotFound

router = APIRouter()


def _id(fhir: str, kind: str, what: str) -> str:
    found = facepay_id(fhir, kind=kind)
    if found is None:
        raise NotFound(f"no such {what}")
    return found


@router.get("/Encounter/{fhir_id}")
def read_encounter(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.INPATIENT_READ)],
    _: None = Json,
) -> Response:
    """One inpatient stay of the caller's site."""
    stay = his_records.stay(
        ctx=state.services, hospital_id=who.hospital, stay_id=_id(fhir_id, "sty", "stay")
    )
    return fhir_response(clinical.encounter_resource(stay))


@router.get("/Encounter")
def search_encounters(
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.INPATIENT_READ)],
    _: None = Json,
) -> Response:
    """The patient's open stay at this site (`patient=`, required)."""
    search = search_of(request, state, "Encounter")
    person = patient_filter(search)
    if person is None:
        raise BadRequest("search encounters by patient", code="fhir_bad_search")
    found = his_records.open_stay(ctx=state.services, hospital_id=who.hospital, person_id=person)
    resources = [clinical.encounter_resource(found)] if found and search.cursor is None else []
    return fhir_response(one_page(request, resources))


@router.get("/ServiceRequest/{fhir_id}")
def read_service_request(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EXAM_READ)],
    _: None = Json,
) -> Response:
    """One exam or lab request of the caller's site."""
    found = his_records.service_request(
        ctx=state.services,
        hospital_id=who.hospital,
        request_id=_id(fhir_id, "srq", "service request"),
    )
    return fhir_response(clinical.service_request_resource(found))


@router.get("/ServiceRequest")
def search_service_requests(
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EXAM_READ)],
    _: None = Json,
) -> Response:
    """A patient's latest requests at this site, newest first (`patient=`, required; at most
    `_count`)."""
    search = search_of(request, state, "ServiceRequest")
    person = patient_filter(search)
    if person is None:
        raise BadRequest("search service requests by patient", code="fhir_bad_search")
    if search.cursor is not None:
        raise BadRequest("the latest requests fit on one page", code="fhir_bad_page")
    found = his_records.service_requests_of(
        ctx=state.services, hospital_id=who.hospital, person_id=person, limit=search.count
    )
    return fhir_response(one_page(request, [clinical.service_request_resource(r) for r in found]))


@router.get("/DiagnosticReport/{fhir_id}")
def read_diagnostic_report(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EXAM_RESULT_READ, terminals=False)],
    _: None = Json,
) -> Response:
    """The result of a request, for the doctor who ordered it (every reading is audited)."""
    found = exams.read_result(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        staff_id=who.id,
        request_id=_id(fhir_id, "srq", "diagnostic report"),
    )
    return fhir_response(clinical.diagnostic_report_resource(found))


@router.get("/Appointment/{fhir_id}")
def read_appointment(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_READ)],
    _: None = Json,
) -> Response:
    """One booking of the caller's site."""
    booking, session = his_records.appointment(
        ctx=state.services,
        hospital_id=who.hospital,
        appointment_id=_id(fhir_id, "apt", "appointment"),
    )
    return fhir_response(scheduling.appointment_resource(booking, session))


@router.get("/Appointment")
def search_appointments(
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_READ)],
    _: None = Json,
) -> Response:
    """The site's bookings by patient, status and date (the session's start), by session start,
    paged both ways."""
    search = search_of(request, state, "Appointment")
    statuses = None
    if search.statuses is not None:
        by_fhir = {fhir: mine for mine, fhir in scheduling.STATUS.items()}
        if not search.statuses <= by_fhir.keys():
            raise BadRequest(f"status: {', '.join(sorted(by_fhir))}", code="fhir_bad_search")
        statuses = frozenset(by_fhir[s] for s in search.statuses)
    rows = his_records.appointments(
        ctx=state.services, query=record_query(who.hospital, search, statuses=statuses)
    )
    return fhir_response(
        paged_bundle(
            request,
            search,
            rows,
            key=lambda row: (row[1].starts_at, row[0].id),
            render=lambda row: scheduling.appointment_resource(*row),
        )
    )


@router.get("/Slot")
def search_slots(
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_READ)],
    _: None = Json,
) -> Response:
    """The slots of the site's sessions by `start` (the session's) and status (free or busy),
    by session start and number, paged forward."""
    search = search_of(request, state, "Slot", date_named="start")
    held: bool | None = None
    if search.statuses is not None:
        if not search.statuses <= {"free", "busy"}:
            raise BadRequest("status: busy, free", code="fhir_bad_search")
        held = None if len(search.statuses) == 2 else "busy" in search.statuses
    cursor = search.cursor
    if cursor is not None and cursor.direction != "after":
        raise BadRequest("_page: Slot searches page forward only", code="fhir_bad_page")
    found, resume = his_records.slots(
        ctx=state.services,
        query=record_query(who.hospital, search),
        held=held,
        after=(cursor.at, cursor.id) if cursor is not None else None,
        limit=search.count,
    )
    bundle = searchset(
        base_url=base_url(request),
        resources=[scheduling.slot_resource(x.schedule, x.number, held=x.held) for x in found],
        self_link=str(request.url),
        next_link=page_link(request, Cursor("after", *resume)) if resume else None,
        total=len(found) if cursor is None and resume is None else None,
    )
    return fhir_response(bundle)


@router.get("/Slot/{fhir_id}")
def read_slot(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.APPOINTMENT_READ)],
    _: None = Json,
) -> Response:
    """Slot `<session id>.<number>`: free, or busy while a booking holds it."""
    session, number = fhir_id.rpartition(".")[::2]
    if not number.isdigit() or len(number) > 4:
        raise NotFound("no such slot")
    found, held = his_records.slot(
        ctx=state.services,
        hospital_id=who.hospital,
        schedule_id=_id(session, "sch", "slot"),
        number=int(number),
    )
    return fhir_response(scheduling.slot_resource(found, int(number), held=held))
