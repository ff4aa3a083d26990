"""FastAPI dependencies as `Annotated` aliases: the services, the caller, the idempotency key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request

from facepay.access.context import Access, RateLimit
from facepay.access.rbac import Principal
from facepay.api.auth import Authenticator
from facepay.api.metrics import ApiMetrics
from facepay.api.problems import DuplicateHeader
from facepay.api.push import SitePush
from facepay.services.context import Services


@dataclass(frozen=True)
class ApiState:
    """Everything the routers need besides the request, kept on `app.state.api`."""

    services: Services
    access: Access
    auth: Authenticator
    metrics: ApiMetrics
    login_buckets: RateLimit
    push: SitePush = field(default_factory=lambda: SitePush(streams_per_site=16))
    """Wakes the pharmacy windows' event streams of a site (facepay.api.push)."""


def api_state(request: Request) -> ApiState:
    """The app's state."""
    state: ApiState = request.app.state.api
    return state


def services(request: Request) -> Services:
    """The use-case container."""
    return api_state(request).services


async def terminal(request: Request) -> Principal:
    """A signed terminal."""
    return await api_state(request).auth.terminal(request)


def staff(request: Request) -> Principal:
    """A logged-in staff member."""
    return api_state(request).auth.staff(request)


async def caller(request: Request) -> Principal:
    """A staff member (Bearer) or a signed terminal."""
    return await api_state(request).auth.any(request)


StateDep = Annotated[ApiState, Depends(api_state)]
ServicesDep = Annotated[Services, Depends(services)]
TerminalPrincipal = Annotated[Principal, Depends(terminal)]
CurrentStaff = Annotated[Principal, Depends(staff)]
Caller = Annotated[Principal, Depends(caller)]


def idempotency_key(
    request: Request,
    key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=8,
            max_length=100,
            pattern=r"^[A-Za-z0-9_.:\-]+$",
            description="Client-chosen key: a retry with the same key and body repeats nothing",
        ),
    ],
) -> str:
    """The request's one Idempotency-Key; two of them are a 400, not a silent choice."""
    if len(request.headers.getlist("idempotency-key")) > 1:
        raise DuplicateHeader("send one Idempotency-Key header, not several")
    return key


IdempotencyKey = Annotated[str, Depends(idempotency_key)]
