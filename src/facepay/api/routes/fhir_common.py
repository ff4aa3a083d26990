"""What the FHIR routers share: FHIR JSON in and out, OperationOutcome errors, searches, pages."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import structlog
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from facepay.access.rbac import Principal, Role
from facepay.adapters.fhir.capability import BY_TYPE, searchset
from facepay.adapters.fhir.common import (
    MEDIA_TYPE,
    ResourceInvalid,
    dumps,
    facepay_id,
)
from facepay.adapters.fhir.outcome import operation_outcome
from facepay.adapters.fhir.search import Cursor, Search, parse_search
from facepay.api.deps import ApiState, api_state
from facepay.api.logging import REQUEST_ID_HEADER, request_context
from facepay.api.problems import BodyTooLarge, NotAcceptable, UnsupportedMediaType, status_of
from facepay.services.repositories import PageKey, RecordQuery
from facepay.shared.errors import (
    BadRequest,
    FacepayError,
    NotFound,
    RateLimited,
    Unavailable,
)

ACCEPTED = ("application/fhir+json", "application/json")
_log = structlog.get_logger("facepay.api.fhir")
T = TypeVar("T")


def fhir_response(resource: dict[str, Any], status: int = 200, **headers: str) -> Response:
    """A resource as `application/fhir+json`."""
    return Response(dumps(resource), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def outcome_response(
    status: int,
    code: str,
    detail: str,
    *,
    issues: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error as an OperationOutcome."""
    body = operation_outcome(status, code, detail, issues=issues)
    return Response(dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def facepay_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FacepayError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="facepay", FACEPAY-ED25519-V1'
    if isinstance(exc, RateLimited | Unavailable):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    elif status == 503:
        headers["Retry-After"] = "1"
    _log.info("fhir_refused", status=status, code=exc.code, detail=exc.message)
    issues = exc.issues if isinstance(exc, ResourceInvalid) else None
    return outcome_response(status, exc.code, exc.message, issues=issues, headers=headers or None)


def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [
        (".".join(str(p) for p in e.get("loc", ())), str(e.get("msg", "")))
        for e in exc.errors()[:20]
    ]
    return outcome_response(400, "fhir_bad_request", "the request is malformed", issues=issues)


def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, BodyTooLarge):
        return outcome_response(413, "body_too_large", str(exc.__cause__))
    if exc.status_code == 404:
        return outcome_response(404, "fhir_not_supported", "no such resource type or interaction")
    if exc.status_code == 405:
        return outcome_response(405, "method_not_allowed", "this interaction is not supported")
    return outcome_response(exc.status_code, "http_error", str(exc.detail))


def unexpected(request: Request, exc: Exception) -> Response:
    context = request_context(request.scope)
    _log.error("unhandled_error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
    request_id = context.get("request_id")
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    return outcome_response(
        500, "internal_error", "something went wrong on our side", headers=headers
    )


async def fhir_body(request: Request) -> bytes:
    """The request body, if it is FHIR JSON within `fhir_max_body_bytes`."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ACCEPTED:
        raise UnsupportedMediaType(
            "send application/fhir+json (or application/json)", code="fhir_unsupported_media_type"
        )
    limit = api_state(request).services.settings.fhir_max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyTooLarge(f"FHIR request bodies are limited to {limit} bytes")
    # Bounded already by the API's BodySizeLimit (chunked bodies too); a signed request's body
    # was read by its authentication, and Starlette keeps the bytes.
    body = await request.body()
    if len(body) > limit:
        raise BodyTooLarge(f"FHIR request bodies are limited to {limit} bytes")
    return body


def accepts_json(request: Request) -> None:
    """Refuse (406) a client that accepts no JSON."""
    accept = request.headers.get("accept", "")
    if not accept:
        return
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if not kinds & {*ACCEPTED, "*/*", "application/*"}:
        raise NotAcceptable(
            "this server answers application/fhir+json only", code="fhir_not_acceptable"
        )


Body = Annotated[bytes, Depends(fhir_body)]
Json = Depends(accepts_json)


def base_url(request: Request) -> str:
    """The facade's base URL as the client reached it (fullUrls and links start with it)."""
    return str(request.base_url).rstrip("/")


def search_of(
    request: Request, state: ApiState, resource_type: str, *, date_named: str = "date"
) -> Search:
    """The request's search parameters, checked against what `resource_type` supports; its
    date parameter may have another name (Slot's `start`), and then `date` is unknown."""
    settings = state.services.settings
    supported = BY_TYPE[resource_type].parameters
    items = list(request.query_params.multi_items())
    if date_named != "date":
        if any(name == "date" for name, _ in items):
            raise BadRequest(
                f"unknown search parameter 'date'; supported: {', '.join(sorted(supported))}",
                code="fhir_unknown_parameter",
            )
        items = [("date" if name == date_named else name, value) for name, value in items]
        supported = (supported - {date_named}) | {"date"}
    return parse_search(
        items,
        supported=supported,
        default_count=settings.fhir_default_count,
        max_count=settings.fhir_max_count,
        utc_offset_minutes=settings.hospital_utc_offset_minutes,
    )


def patient_filter(search: Search) -> str | None:
    """The facepay person id of a `patient=` search (an impossible id if it names none)."""
    if search.patient is None:
        return None
    return facepay_id(search.patient, kind="psn") or "psn_none"


def record_query(hospital_id: str, search: Search, **filters: Any) -> RecordQuery:
    """The RecordQuery of a search: filters, time range, page (one row more than shown)."""
    cursor = search.cursor
    return RecordQuery(
        hospital_id=hospital_id,
        person_id=patient_filter(search),
        since=search.since,
        until=search.until,
        after=(cursor.at, cursor.id) if cursor and cursor.direction == "after" else None,
        before=(cursor.at, cursor.id) if cursor and cursor.direction == "before" else None,
        limit=search.count + 1,
        **filters,
    )


def paged_bundle(
    request: Request,
    search: Search,
    rows: Sequence[T],
    *,
    key: Callable[[T], PageKey],
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """The searchset of a page fetched with `record_query` (count + 1 rows), with links."""
    backward = search.cursor is not None and search.cursor.direction == "before"
    more = len(rows) > search.count
    shown = list(rows[1:] if backward and more else rows[: search.count])
    has_next = bool(shown) and (backward or more)
    has_previous = bool(shown) and (more if backward else search.cursor is not None)
    total = len(shown) if search.cursor is None and not more else None
    return searchset(
        base_url=base_url(request),
        resources=[render(row) for row in shown],
        self_link=str(request.url),
        next_link=page_link(request, Cursor("after", *key(shown[-1]))) if has_next else None,
        previous_link=page_link(request, Cursor("before", *key(shown[0])))
        if has_previous
        else None,
        total=total,
    )


def page_link(request: Request, cursor: Cursor) -> str:
    """The request's URL with its `_page` set to `cursor`."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "_page"]
    return str(request.url.replace(query=urlencode([*items, ("_page", cursor.encode())])))


def one_page(request: Request, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A searchset of at most one page, with its total."""
    return searchset(
        base_url=base_url(request),
        resources=resources,
        self_link=str(request.url),
        total=len(resources),
    )


def person_id(fhir: str) -> str:
    """The person a Patient id names (404 for an id that names none)."""
    found = facepay_id(fhir, kind="psn")
    if found is None:
        raise NotFound("no such patient")
    return found


def shows_full_name(who: Principal) -> bool:
    """Who reads a patient's name in full (auditors read `张*`)."""
    return who.role is not Role.AUDITOR
