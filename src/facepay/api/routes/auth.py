"""Staff login: argon2id password check, a short-lived JWT, an audit entry."""

from __future__ import annotations

from fastapi import APIRouter, Request

from facepay.access.staff import authenticate
from facepay.api.deps import StateDep
from facepay.api.problems import errors
from facepay.api.schemas import LoginCreate, TokenRead
from facepay.services.audit import record_event

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/login", response_model=TokenRead, responses=errors(401, 413, 422, 429))
def login(body: LoginCreate, state: StateDep, request: Request) -> TokenRead:
    """Exchange a user name and password for a bearer token."""
    state.login_buckets.take(f"user:{body.username.lower()}")
    account = authenticate(
        accounts=state.access.accounts,
        passwords=state.access.passwords,
        username=body.username,
        password=body.password,
    )
    issued = state.access.tokens.issue(account)
    record_event(
        ctx=state.services,
        actor=f"staff:{account.staff_id}",
        action="staff.login",
        subject=f"staff:{account.staff_id}",
        details={"role": account.role.value}
        | ({"hospital": account.hospital_id} if account.hospital_id else {}),
    )
    return TokenRead(
        access_token=issued.token,
        expires_at=issued.expires_at,
        role=account.role,
        hospital_id=account.hospital_id,
    )
