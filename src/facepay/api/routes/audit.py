"""The hash-chained audit log: verify it, page through it (read-only).

A hospital's auditors and admins see their own hospital's chain and nothing else; the platform's
operators page through any chain (`?chain=`, `platform` for the platform's own) and verify all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from facepay.access.rbac import Permission, Principal
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.problems import errors
from facepay.api.schemas import AuditVerificationRead, Id, ResponseModel
from facepay.services.audit import audit_entries, verify_audit
from facepay.shared.errors import NotFound
from facepay.supervision.audit import PLATFORM_CHAIN

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Reader = Annotated[
    Principal,
    may(Permission.AUDIT_READ, Permission.PLATFORM_AUDIT_READ, any_of=True, terminals=False),
]


class AuditEntryRead(ResponseModel):
    """One audit entry (details are masked by construction)."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, object]
    hash: str


class AuditEntryPage(ResponseModel):
    """A page of entries from `from_seq`; `next_seq` continues it."""

    items: list[AuditEntryRead]
    next_seq: int | None


def _readable_chain(state: StateDep, who: Principal, chain: str | None) -> str:
    """The chain `who` asks for: a hospital reads its own (another's is not found), the
    platform any."""
    if who.hospital_id is None:
        state.access.policy.require(who, Permission.PLATFORM_AUDIT_READ)
        return chain or PLATFORM_CHAIN
    state.access.policy.require(who, Permission.AUDIT_READ)
    if chain is not None and chain != who.hospital_id:
        raise NotFound("no such audit chain")
    return who.hospital_id


@router.get(
    "/verification", response_model=AuditVerificationRead, responses=errors(401, 403, 404, 429)
)
def verify(state: StateDep, who: Reader) -> AuditVerificationRead:
    """Re-hash the caller's hospital chain (a platform operator: every chain); any edited,
    inserted, deleted or moved entry is reported."""
    chains = None if who.hospital_id is None else [_readable_chain(state, who, None)]
    if chains is None:  # every chain, the platform's own included
        state.access.policy.require(who, Permission.PLATFORM_AUDIT_READ)
    report = verify_audit(ctx=state.services, chains=chains)
    return audit_verification(report)


@router.get("/entries", response_model=AuditEntryPage, responses=errors(401, 403, 404, 422, 429))
def entries(
    state: StateDep,
    who: Reader,
    from_seq: Annotated[int, Query(ge=1, le=10**12)] = 1,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    chain: Annotated[Id | None, Query(description="Platform operators: which chain")] = None,
) -> AuditEntryPage:
    """Entries of the caller's hospital chain in order, from `from_seq`."""
    name = _readable_chain(state, who, chain)
    found = audit_entries(ctx=state.services, chain=name, from_seq=from_seq, limit=limit)
    items = [
        AuditEntryRead(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            subject=e.subject,
            details=dict(e.details),
            hash=e.hash,
        )
        for e in found
    ]
    return AuditEntryPage(items=items, next_seq=items[-1].seq + 1 if len(items) == limit else None)


def audit_verification(report: object) -> AuditVerificationRead:
    """The API form of a `VerifyReport`."""
    return AuditVerificationRead.model_validate(report, from_attributes=True)
