"""The HL7 FHIR R4 facade under /fhir/R4: a sub-application with FHIR's own error form.

It is mounted by facepay.api.app and shares the API's state, so authentication (signed
terminal requests, staff tokens), permissions (`may`), rate limits and tenancy are those of
/v1. Everything it answers is `application/fhir+json` (`application/json` accepted on the way
in); every error, authentication failures and unknown paths included, is an OperationOutcome
with the HTTP status of the error. The mapping lives in facepay.adapters.fhir; the routers
(fhir_patients, fhir_billing, fhir_claims, fhir_subscriptions) parse, call one use case and
render.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facepay.adapters.fhir.capability import BY_TYPE
from facepay.api.deps import ApiState
from facepay.api.routes import (
    fhir_billing,
    fhir_claims,
    fhir_clinical,
    fhir_medication,
    fhir_patients,
    fhir_subscriptions,
)
from facepay.api.routes.fhir_common import (
    facepay_error,
    http_error,
    outcome_response,
    unexpected,
    validation_error,
)
from facepay.shared.errors import FacepayError

PREFIX = "/fhir/R4"
router = APIRouter()


class Contained:
    """ASGI wrapper: an unexpected exception ends inside the facade. Starlette's error
    middleware answers it (with the OperationOutcome of `unexpected`) and then raises it again;
    raised on into the enclosing app, it would make that app answer a second time on a
    response already sent and drop the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, tracking)
        except Exception:
            if not started:
                answer = outcome_response(500, "internal_error", "something went wrong on our side")
                await answer(scope, receive, send)
            # Logged by `unexpected` already; the client has its answer.


def create_fhir_app(state: ApiState) -> Contained:
    """The /fhir/R4 application over the API's state (mount it at PREFIX)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, title="facepay FHIR R4")
    app.state.api = state
    app.add_exception_handler(FacepayError, facepay_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    for module in (
        fhir_patients,
        fhir_subscriptions,
        fhir_claims,
        fhir_billing,
        fhir_clinical,
        fhir_medication,
    ):
        app.include_router(module.router)
    app.include_router(router)  # last: its catch-all answers what no other route does
    return Contained(app)


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unsupported(path: str) -> Response:
    """Anything else: not a resource type or interaction of this server."""
    kind = path.split("/", 1)[0]
    if kind in BY_TYPE:
        return outcome_response(405, "fhir_not_supported", f"{kind}: interaction not supported")
    return outcome_response(404, "fhir_not_supported", "no such resource type")
