"""The request id on an answer the app did not expect to give: a 500 is raised past every
middleware, and still carries its request's id, in the response and in its log line."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import httpx
from fastapi import FastAPI

from facepay.api import problems
from facepay.api.logging import RequestContext, configure_logging


def test_an_unhandled_error_keeps_the_request_id() -> None:
    app = FastAPI()
    problems.install(app)
    app.add_middleware(RequestContext)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        answer = asyncio.run(_get(app, "/boom", {"X-Request-ID": "trace-500"}))
    finally:
        configure_logging(level=logging.WARNING)
    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "trace-500"
    assert answer.json()["code"] == "internal_error"
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    failed = [line for line in lines if line["event"] == "unhandled_error"]
    assert failed
    assert failed[0]["request_id"] == "trace-500"
    assert failed[0]["client"] == "127.0.0.1"


async def _get(app: FastAPI, path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)
