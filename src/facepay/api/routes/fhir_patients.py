"""FHIR metadata, Patient and Coverage of the caller's site."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from facepay.access.rbac import Permission, Principal
from facepay.adapters.fhir import patients as patient_map
from facepay.adapters.fhir.capability import capability_statement
from facepay.adapters.fhir.common import SID_RESIDENT_ID
from facepay.api.access import may
from facepay.api.deps import ApiState, StateDep
from facepay.api.routes.fhir_common import (
    Json,
    base_url,
    fhir_response,
    one_page,
    person_id,
    search_of,
    shows_full_name,
)
from facepay.services import coverage as coverage_service
from facepay.services import his_records
from facepay.shared.errors import BadRequest, NotFound

router = APIRouter()


@router.get("/metadata")
def metadata(request: Request, _: None = Json) -> Response:
    """The CapabilityStatement; no credentials needed."""
    return fhir_response(capability_statement(base_url=base_url(request), date="2026-12-01"))


@router.get("/Patient/{fhir_id}")
def read_patient(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PATIENT_READ)],
    _: None = Json,
) -> Response:
    """One patient of the caller's site."""
    person = his_records.patient(
        ctx=state.services, hospital_id=who.hospital, person_id=person_id(fhir_id)
    )
    return fhir_response(patient_map.patient_resource(person, full_name=shows_full_name(who)))


@router.get("/Patient")
def search_patients(
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PATIENT_READ)],
    _: None = Json,
) -> Response:
    """The site's patient with this ID number (`identifier=`, required)."""
    search = search_of(request, state, "Patient")
    if search.identifier is None:
        raise BadRequest("search patients by identifier", code="fhir_bad_search")
    system, value = search.identifier
    found = None
    if system in (None, SID_RESIDENT_ID) and search.cursor is None:
        found = his_records.patient_by_id_number(
            ctx=state.services, hospital_id=who.hospital, id_number=value
        )
    full = shows_full_name(who)
    resources = [patient_map.patient_resource(found, full_name=full)] if found else []
    return fhir_response(one_page(request, resources))


def _coverage(state: ApiState, hospital_id: str, person: str) -> dict[str, Any]:
    year = state.services.clock.now().year
    coverage = coverage_service.patient_coverage(
        ctx=state.services, hospital_id=hospital_id, person_id=person, year=year
    )
    site = his_records.site(ctx=state.services, hospital_id=hospital_id)
    return patient_map.coverage_resource(
        coverage, region=site.region, region_id=site.hospital.region_id, year=year
    )


@router.get("/Coverage/{fhir_id}")
def read_coverage(
    fhir_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PATIENT_READ)],
    _: None = Json,
) -> Response:
    """A patient's insurance (the Coverage id is the Patient's)."""
    return fhir_response(_coverage(state, who.hospital, person_id(fhir_id)))


@router.get("/Coverage")
def search_coverage(
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PATIENT_READ)],
    _: None = Json,
) -> Response:
    """The insurance of one patient (`patient=`, required)."""
    search = search_of(request, state, "Coverage")
    if search.patient is None:
        raise BadRequest("search coverage by patient", code="fhir_bad_search")
    try:
        found = [_coverage(state, who.hospital, person_id(search.patient))]
    except NotFound:
        found = []
    return fhir_response(one_page(request, found if search.cursor is None else []))
