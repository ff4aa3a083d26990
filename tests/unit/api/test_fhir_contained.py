"""An unexpected exception inside the FHIR facade ends there: answered once with an
OperationOutcome, never raised on into the enclosing app (which would answer a second time on a
response already sent and drop the connection)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from facepay.api.routes.fhir import Contained


def _run(app: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}
    asyncio.run(Contained(app)(scope, receive, send))
    return sent


def test_a_crash_before_any_answer_is_a_500_operation_outcome() -> None:
    async def crashing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    sent = _run(crashing)
    assert sent[0]["status"] == 500
    body = json.loads(sent[1]["body"])
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["details"]["coding"][0]["code"] == "internal_error"


def test_a_crash_after_the_answer_is_not_raised_on() -> None:
    async def answered_then_raised(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        raise RuntimeError("re-raised by Starlette's error middleware")

    sent = _run(answered_then_raised)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
