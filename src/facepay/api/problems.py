"""Errors as RFC 9457 `application/problem+json` with stable `type` codes.

Every `FacepayError` maps to one status by its class; its `code` becomes the problem `type`
(`urn:facepay:problem:<code>`), so clients branch on `type`, never on the English `detail`.
Nothing a client sends can produce a 5xx: unexpected exceptions are 500 `internal_error` with no
detail (the traceback goes to the log, never to the client).
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from facepay.api.logging import REQUEST_ID_HEADER, request_context
from facepay.services.ports import StorageBusy
from facepay.shared.errors import (
    BadRequest,
    Conflict,
    FacepayError,
    Forbidden,
    ImageRejected,
    InvalidInput,
    NotFound,
    PolicyError,
    RateLimited,
    Unauthorized,
    Unavailable,
)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:facepay:problem:"
_log = structlog.get_logger("facepay.api")


# Most specific first: a subclass must come before its base.
class BodyTooLarge(FacepayError):  # noqa: N818
    """The request body is above the configured limit."""

    code = "body_too_large"


class DuplicateHeader(FacepayError):  # noqa: N818
    """A header that must appear once appears several times."""

    code = "duplicate_header"


class UnsupportedMediaType(InvalidInput):
    """A request body of a media type the operation does not read."""

    code = "unsupported_media_type"


class NotAcceptable(InvalidInput):
    """The client accepts none of the media types the operation answers with."""

    code = "not_acceptable"


class PreconditionFailed(FacepayError):  # noqa: N818
    """A condition the request set (a conditional header) does not hold."""

    code = "precondition_failed"


STATUS_BY_ERROR: tuple[tuple[type[FacepayError], int], ...] = (
    (RateLimited, 429),
    (BodyTooLarge, 413),
    (DuplicateHeader, 400),
    (UnsupportedMediaType, 415),
    (NotAcceptable, 406),
    (PreconditionFailed, 412),
    (BadRequest, 400),
    (StorageBusy, 503),
    (Unavailable, 503),
    (ImageRejected, 422),
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (PolicyError, 422),
    (Unauthorized, 401),
    (Forbidden, 403),
)
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal error",
    503: "Busy, retry",
}


class FieldError(BaseModel):
    """One invalid field of a request."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem: `type` is stable, `detail` is for people."""

    type: str = Field(examples=["urn:facepay:problem:not_found"])
    title: str
    status: int
    detail: str = ""
    code: str = Field(description="The stable code (the tail of `type`).")
    instance: str | None = None
    errors: list[FieldError] | None = None
    decision_id: str | None = Field(
        default=None,
        description="A refused liveness capture: staff with the right role read every check "
        "and its score at GET /v1/liveness/decisions/{decision_id}.",
    )
    liveness: dict[str, Any] | None = Field(
        default=None,
        description="Only with FACEPAY_ENVIRONMENT=dev: the refused capture's checks.",
    )


def problem_response(
    status: int,
    code: str,
    detail: str = "",
    *,
    instance: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response (`extensions`: members of `Problem` beyond the standard ones)."""
    body = Problem(
        type=TYPE_PREFIX + code,
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        code=code,
        instance=instance,
        errors=errors,
        **(extensions or {}),
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def status_of(error: FacepayError) -> int:
    """The HTTP status of a facepay error."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 400


def _facepay_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FacepayError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="facepay", FACEPAY-ED25519-V1'
    if status == 503:
        headers["Retry-After"] = "1"
    if isinstance(exc, RateLimited | Unavailable):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    _log.info("request_refused", status=status, code=exc.code, detail=exc.message)
    extend = getattr(exc, "problem_extensions", None)
    extensions = extend(dev=_in_dev(request)) if extend is not None else None
    return problem_response(
        status,
        exc.code,
        exc.message,
        instance=request.url.path,
        headers=headers or None,
        extensions=extensions,
    )


def _in_dev(request: Request) -> bool:
    state = getattr(request.app.state, "api", None)
    return state is not None and state.services.settings.environment == "dev"


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(
            loc=[p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            msg=str(e.get("msg", "")),
            type=str(e.get("type", "")),
        )
        for e in exc.errors()[:50]
    ]
    # Input values are never echoed back: they may be ID numbers or image bytes.
    return problem_response(
        422, "validation_error", "the request does not match the schema", errors=errors
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, BodyTooLarge):  # FastAPI wraps errors raised while reading
        return _facepay_error(request, exc.__cause__)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return problem_response(
        exc.status_code, code, str(exc.detail), headers=dict(exc.headers) if exc.headers else None
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette runs this handler outside every middleware, after the request's log context is
    # gone: the request keeps it in its scope for this line and this answer.
    context = request_context(request.scope)
    _log.error(
        "unhandled_error",
        path=request.url.path,
        error=type(exc).__name__,
        exc_info=exc,
        **context,
    )
    request_id = context.get("request_id")
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    return problem_response(
        500, "internal_error", "something went wrong on our side", headers=headers
    )


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(FacepayError, _facepay_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting each error status as a Problem."""
    described = {
        400: "Malformed request",
        401: "Missing, bad, stale or replayed credentials",
        403: "Not allowed for this caller (role, terminal or hospital)",
        404: "No such object visible to the caller",
        409: "Idempotency-key clash, insufficient funds or state conflict",
        413: "Request body too large",
        422: "Invalid input (schema, image or policy)",
        428: "Idempotency-Key header required",
        429: "Rate limit exceeded",
        503: "Storage busy, full or unavailable (`storage_busy`, `storage_unavailable`) or no "
        "place for a capture (`busy`): nothing was done; retry after Retry-After seconds with "
        "the same Idempotency-Key",
    }
    return {
        status: {
            "model": Problem,
            "description": described.get(status, TITLES.get(status, "Error")),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
