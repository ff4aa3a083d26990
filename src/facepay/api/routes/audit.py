"""The hash-chained audit log: verify it, page through it (auditors and admins, read-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from facepay.api.deps import CurrentStaff, StateDep
from facepay.api.problems import errors
from facepay.api.rbac import Permission
from facepay.api.schemas import AuditVerificationRead, ResponseModel
from facepay.services.audit import audit_entries, verify_audit

router = APIRouter(prefix="/v1/audit", tags=["audit"])


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


@router.get("/verification", response_model=AuditVerificationRead, responses=errors(401, 403, 429))
def verify(state: StateDep, who: CurrentStaff) -> AuditVerificationRead:
    """Re-hash the whole chain: any edited, inserted or deleted entry is reported."""
    state.policy.require(who, Permission.AUDIT_READ)
    report = verify_audit(ctx=state.services)
    return audit_verification(report)


@router.get("/entries", response_model=AuditEntryPage, responses=errors(401, 403, 422, 429))
def entries(
    state: StateDep,
    who: CurrentStaff,
    from_seq: Annotated[int, Query(ge=1, le=10**12)] = 1,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditEntryPage:
    """Entries in order, from `from_seq`."""
    state.policy.require(who, Permission.AUDIT_READ)
    found = audit_entries(ctx=state.services, from_seq=from_seq, limit=limit)
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
