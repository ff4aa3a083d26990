"""structlog JSON logs that cannot carry image bytes, embeddings or unmasked ID numbers, and
that name the request they belong to.

The last processor before rendering scrubs every event: bytes and long numeric lists are replaced
by their size, keys named like images or templates are dropped, long base64-looking strings are
cut, and 15/18-character resident ID numbers anywhere in a string are masked.

`RequestContext` gives every request an id (the caller's `X-Request-ID` when it is a short
token, else a new one), returns it as `X-Request-ID`, and adds it, the client address and, once
authenticated, the caller (`terminal:ID` or `staff:ID`) to every log line of that request, in
the event loop and in the worker threads that run the handlers alike.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8}|\d{5})(\d{3}[\dXx])(?![0-9A-Za-z])")
_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{128,}")
_BIOMETRIC_KEYS = re.compile(
    r"(^|_)(image|images|img|photo|photos|frame|frames|embedding|embeddings|template|templates|"
    r"vector|descriptor|chip_photo)$"
)


def mask_ids(text: str) -> str:
    """`110101199003074518` -> `110101********4518` wherever it occurs in `text`."""
    return _ID.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


def _scrub(value: object, depth: int = 0) -> object:  # noqa: PLR0911 - one case per type
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return mask_ids(_BLOB.sub("<blob>", value))
    if depth > 6:
        return "<nested>"
    if isinstance(value, dict):
        return {
            str(k): _scrub(v, depth + 1)
            for k, v in value.items()
            if not _BIOMETRIC_KEYS.search(str(k).lower())
        }
    if isinstance(value, list | tuple):
        if sum(isinstance(v, float) for v in value) > 16:
            return f"<{len(value)} numbers>"
        return [_scrub(v, depth + 1) for v in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # a NumPy array
        return f"<array {getattr(value, 'shape', '')}>"
    return value


def scrub_event(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the redaction described in the module docstring."""
    cleaned = _scrub(dict(event))
    assert isinstance(cleaned, dict)
    return cleaned


class _CurrentStderr:
    """Whatever `sys.stderr` is when a line is written (a test runner swaps it in and out)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


REQUEST_ID_HEADER = "X-Request-ID"
_SCOPE_KEY = "facepay_request"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_request: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "facepay_request", default=None
)


def add_request_context(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current request's id, client and caller, if any."""
    current = _request.get()
    if current:
        for key, value in current.items():
            event.setdefault(key, value)
    return event


def bind_caller(caller: str) -> None:
    """Name the authenticated caller in the current request's log lines (from any thread: the
    request's context is one dict, shared by reference with the handler's worker thread)."""
    current = _request.get()
    if current is not None:
        current["caller"] = caller


def request_context(scope: Scope) -> dict[str, str]:
    """The request id, client and caller `RequestContext` kept in an ASGI scope (empty if none)."""
    state = scope.get("state")
    found = state.get(_SCOPE_KEY) if isinstance(state, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    current = _request.get()
    return current.get("request_id") if current else None


class RequestContext:
    """ASGI middleware: a request id per HTTP request, in the logs and the response."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.lower().encode(), b"")
        text = sent.decode("latin-1")
        request_id = text if _REQUEST_ID.fullmatch(text) else uuid.uuid4().hex
        client = scope.get("client")
        context = {"request_id": request_id, "client": client[0] if client else "unknown"}
        scope.setdefault("state", {})[_SCOPE_KEY] = context  # for the 500 handler, see problems
        token = _request.set(context)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            _request.reset(token)


def configure_logging(*, stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """JSON lines on `stream` (stderr by default), scrubbed."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_request_context,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            scrub_event,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream or _CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
