"""`create_app(services, access)`: the FastAPI application, versioned under /v1.

Both arguments come built from `facepay.bootstrap`; the app adds only what is HTTP's own (rate
limits, metrics, middleware, problem mapping) and constructs no adapter."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from facepay import __version__
from facepay.access.context import Access
from facepay.api import problems
from facepay.api.access import describe_access
from facepay.api.auth import Authenticator
from facepay.api.deps import ApiState
from facepay.api.limits import BodySizeLimit, CaptureAdmission
from facepay.api.logging import RequestContext
from facepay.api.metrics import ApiMetrics, LatencyMiddleware
from facepay.api.push import SitePush
from facepay.api.routes import (
    admin,
    appointments,
    audit,
    auth,
    balances,
    bills,
    emergency,
    fhir,
    inpatient,
    liveness,
    lookups,
    offline,
    orders,
    patients,
    proxies,
    settlements,
    system,
)
from facepay.services.context import Services
from facepay.services.gallery_sync import follow_journal
from facepay.services.his_notifications import deliver_round
from facepay.services.upkeep import run_upkeep


def create_app(services: Services, access: Access) -> FastAPI:
    """The API over `services` and `access` (one of each per process, both from
    `facepay.bootstrap`; state lives in `app.state.api`)."""
    settings = services.settings
    metrics = ApiMetrics()
    metrics.watch_gallery(
        templates=lambda: len(services.gallery), position=lambda: services.journal.position
    )
    state = ApiState(
        services=services,
        access=access,
        auth=Authenticator(
            verifier=access.verifier,
            tokens=access.tokens,
            accounts=access.accounts,
            terminal_buckets=access.limits.terminal,
            staff_buckets=access.limits.staff,
        ),
        metrics=metrics,
        login_buckets=access.limits.login,
        push=SitePush(streams_per_site=settings.pharmacy_streams_per_site),
    )
    # /docs and /redoc load Swagger UI and ReDoc from the fastapi-offline package, served under
    # /docs/assets: no CDN, so they work on a hospital LAN (and no online spec validator).
    app = FastAPIOffline(
        static_url="/docs/assets",
        swagger_ui_parameters={"validatorUrl": None},
        title="facepay",
        version=__version__,
        description="Face-recognition identity and payment for hospitals.",
        lifespan=lambda _: upkeep_schedule(services),
    )
    app.state.api = state
    problems.install(app)
    # Each router carries its /v1 prefix itself: FastAPI mounts an included router, and only
    # the route's own path reaches `scope["route"]`, which labels the latency metrics.
    routers = [system, auth, admin, lookups, patients, liveness, bills, audit, proxies]
    routers += [orders, emergency, appointments, inpatient, settlements, offline, balances]
    for module in routers:
        app.include_router(module.router)
    # The FHIR facade: its own error form (OperationOutcome), the same state, auth and limits.
    app.mount(fhir.PREFIX, fhir.create_fhir_app(state))
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(
        CaptureAdmission,
        paths=CAPTURE_PATHS,
        limit=settings.resolved_concurrent_captures(),
    )
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    app.add_middleware(RequestContext)  # outermost: every log line of a request has its id
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


CAPTURE_PATHS = frozenset(
    {
        "/v1/identifications",
        "/v1/identifications/verify",
        "/v1/enrolments",
        "/v1/emergency/identifications",
    }
)
_log = structlog.get_logger("facepay.api")


@asynccontextmanager
async def upkeep_schedule(services: Services) -> AsyncIterator[None]:
    """Run the upkeep (facepay.services.upkeep) every `maintenance_interval_seconds`, deliver
    FHIR rest-hook notifications (facepay.services.his_notifications) every
    `fhir_subscription_interval_seconds` and follow the template journal
    (facepay.services.gallery_sync) every `gallery_follow_interval_ms` while the app serves; a
    failed round is logged and the next one tries again."""

    stop = asyncio.Event()

    async def every(
        seconds: float, name: str, work: Callable[[], Any], news: Callable[[Any], bool]
    ) -> None:
        # Waits on `stop`, so that shutting down lets a round in its thread finish (a cancelled
        # await would leave the thread holding a database connection past the engine's end).
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
            if stop.is_set():
                return
            try:
                done = await run_in_threadpool(work)
            except Exception as error:
                _log.warning(f"{name}_failed", error=type(error).__name__, detail=str(error))
            else:
                if news(done):
                    _log.info(name, **asdict(done))

    settings = services.settings
    tasks = [
        asyncio.create_task(
            every(
                settings.maintenance_interval_seconds,
                "upkeep",
                lambda: run_upkeep(ctx=services),
                lambda done: any(asdict(done).values()),
            )
        ),
        asyncio.create_task(
            every(
                settings.fhir_subscription_interval_seconds,
                "fhir_notified",
                lambda: deliver_round(ctx=services, notifier=services.his_notifier),
                lambda done: bool(done.sent or done.failed),
            )
        ),
        asyncio.create_task(
            every(
                settings.gallery_follow_interval_ms / 1000,
                "gallery_followed",
                lambda: follow_journal(ctx=services),
                lambda done: bool(done.added or done.removed),
            )
        ),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The schema plus the two security schemes (staff bearer, terminal signature headers)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    components["securitySchemes"] = {
        "staffBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "terminalSignature": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Facepay-Signature",
            "description": "Ed25519 over FACEPAY-ED25519-V1, terminal id, method, path?query, "
            "timestamp, nonce and body SHA-256, with the X-Facepay-Terminal, -Timestamp, -Nonce "
            "and -Content-SHA256 headers (see facepay.terminal.signing).",
        },
    }
    schema["security"] = [{"staffBearer": []}, {"terminalSignature": []}]
    describe_access(schema, app.routes, app.state.api.access.policy)
    app.openapi_schema = schema
    return schema
