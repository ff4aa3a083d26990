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

from facepay.adapters.fhir.capability import BY_TYPE
from facepay.api.deps import ApiState
from facepay.api.routes import (
    fhir_billing,
    fhir_claims,
    fhir_clinical,
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


def create_fhir_app(state: ApiState) -> FastAPI:
    """The /fhir/R4 application over the API's state (mount it at PREFIX)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, title="facepay FHIR R4")
    app.state.api = state
    app.add_exception_handler(FacepayError, facepay_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    for module in (fhir_patients, fhir_subscriptions, fhir_claims, fhir_billing, fhir_clinical):
        app.include_router(module.router)
    app.include_router(router)  # last: its catch-all answers what no other route does
    return app


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unsupported(path: str) -> Response:
    """Anything else: not a resource type or interaction of this server."""
    kind = path.split("/", 1)[0]
    if kind in BY_TYPE:
        return outcome_response(405, "fhir_not_supported", f"{kind}: interaction not supported")
    return outcome_response(404, "fhir_not_supported", "no such resource type")
