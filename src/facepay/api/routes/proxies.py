"""Guardians and carers who may act for a patient: register, read, revoke.

A grant is registered at a desk by staff with the proxy's own identification (and the patient's,
on the patient's consent); the proxy then pays, collects medicine or checks the patient in by
their own face or card at every site of the region, until the grant expires or is revoked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import Field

from facepay.access.rbac import Permission, Principal
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.problems import errors
from facepay.api.schemas import Id, PlainText, RequestModel, ResponseModel
from facepay.hospital.proxies import ProxyGrant
from facepay.services import proxies

router = APIRouter(prefix="/v1", tags=["proxies"])
Act = Literal["pay", "collect", "check_in"]


class ProxyCreate(RequestModel):
    """Who acts for whom, for what, on what basis, until when."""

    patient_id: Id
    proxy_identification_id: Id
    """The proxy identified at this desk (face or card) just now."""
    patient_identification_id: Id | None = None
    """The patient identified too: required when the basis is the patient's consent."""
    relation: Literal["parent", "guardian", "spouse", "child", "relative", "carer"]
    basis: Literal["patient_consent", "parent_of_minor", "court_order"]
    acts: Annotated[list[Act], Field(min_length=1, max_length=3)]
    valid_until: datetime
    evidence_ref: Annotated[PlainText, Field(min_length=1, max_length=100)] | None = None


class ProxyRevocationCreate(RequestModel):
    """Why the grant ends."""

    reason: Annotated[PlainText, Field(min_length=1, max_length=200)] = "revoked"


class ProxyRead(ResponseModel):
    """A grant and where it stands now."""

    id: str
    patient_id: str
    proxy_id: str
    relation: str
    basis: str
    acts: list[str]
    valid_from: datetime
    valid_until: datetime
    evidence_ref: str | None
    revoked_at: datetime | None
    status: Literal["active", "revoked", "expired", "pending"]


def _read(grant: ProxyGrant, now: datetime) -> ProxyRead:
    return ProxyRead(
        id=grant.id,
        patient_id=grant.patient_id,
        proxy_id=grant.proxy_id,
        relation=grant.relation,
        basis=grant.basis,
        acts=sorted(grant.acts),
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        evidence_ref=grant.evidence_ref,
        revoked_at=grant.revoked_at,
        status=grant.status(now),
    )


@router.post(
    "/proxies",
    status_code=status.HTTP_201_CREATED,
    response_model=ProxyRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429),
)
def register(
    body: ProxyCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PROXY_REGISTER, terminals=False)],
) -> ProxyRead:
    """Register a guardian or carer for a patient (staff at a desk only)."""
    grant = proxies.register_proxy(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        proxy_identification_id=body.proxy_identification_id,
        patient_id=body.patient_id,
        patient_identification_id=body.patient_identification_id,
        relation=body.relation,
        basis=body.basis,
        acts=body.acts,
        valid_until=body.valid_until,
        evidence_ref=body.evidence_ref,
    )
    return _read(grant, state.services.clock.now())


@router.get(
    "/proxies/{grant_id}", response_model=ProxyRead, responses=errors(401, 403, 404, 422, 429)
)
def read(
    grant_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PROXY_READ, terminals=False)],
) -> ProxyRead:
    """A grant registered at this hospital."""
    grant = proxies.get_proxy(ctx=state.services, hospital_id=who.hospital, grant_id=grant_id)
    return _read(grant, state.services.clock.now())


@router.post(
    "/proxies/{grant_id}/revocation",
    response_model=ProxyRead,
    responses=errors(401, 403, 404, 413, 422, 429),
)
def revoke(
    grant_id: Id,
    body: ProxyRevocationCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PROXY_REVOKE, terminals=False)],
) -> ProxyRead:
    """End a grant registered at this hospital, at once."""
    grant = proxies.revoke_proxy(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        grant_id=grant_id,
        reason=body.reason,
    )
    return _read(grant, state.services.clock.now())


@router.get(
    "/patients/{person_id}/proxies",
    response_model=list[ProxyRead],
    responses=errors(401, 403, 404, 422, 429),
)
def of_patient(
    person_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PROXY_READ, terminals=False)],
) -> list[ProxyRead]:
    """The grants this hospital registered for a patient."""
    now = state.services.clock.now()
    found = proxies.proxies_of(ctx=state.services, hospital_id=who.hospital, patient_id=person_id)
    return [_read(grant, now) for grant in found]
