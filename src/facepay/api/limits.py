"""Resource limits: request body size (413), concurrent captures (503) and per-caller token
buckets (429).

The body limit is an ASGI middleware: it refuses a declared Content-Length above the limit before
reading anything, and stops a chunked body as soon as it passes the limit, so a huge upload never
sits in memory. Rate limits are token buckets in process memory, keyed by terminal id or staff id
(and by user name for logins); with several API processes each has its own buckets, so the
effective limit is per process — a shared store (Redis) would be the next step.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facepay.api.problems import BodyTooLarge, problem_response
from facepay.shared.errors import RateLimited


class BodySizeLimit:
    """ASGI middleware answering 413 problem+json for bodies above `max_bytes`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > self._max):
                await self._refuse(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self._max:
                    raise BodyTooLarge(f"request bodies are limited to {self._max} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, "body_too_large", f"request bodies are limited to {self._max} bytes"
        )
        await response(scope, receive, send)


class CaptureAdmission:
    """ASGI middleware letting at most `limit` capture requests (identification, enrolment) in
    at once; the others wait - before their body is read, so a waiting request holds no memory -
    and get 503 with Retry-After if no place frees within `wait_seconds`.

    A capture costs up to ~60 MB while it is decoded and judged (tests/e2e/test_server_memory.py)
    and the work is CPU-bound, so admitting more than the cores can serve adds memory, not
    throughput."""

    def __init__(
        self, app: ASGIApp, *, paths: frozenset[str], limit: int, wait_seconds: float = 30.0
    ) -> None:
        self._app = app
        self._paths = paths
        self._slots = asyncio.Semaphore(limit)
        self._wait = wait_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self._paths:
            await self._app(scope, receive, send)
            return
        queued = time.perf_counter()
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self._wait)
        except TimeoutError:
            response = problem_response(
                503,
                "busy",
                "every place for a capture is taken; retry in a moment",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        waited_ms = (time.perf_counter() - queued) * 1000

        async def send_wait(message: Message) -> None:
            if message["type"] == "http.response.start":
                timing = (b"server-timing", b"queue;dur=%.1f" % waited_ms)
                message = {**message, "headers": [*message.get("headers", []), timing]}
            await send(message)

        try:
            await self._app(scope, receive, send_wait)
        finally:
            self._slots.release()


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One token bucket per key: `rate` tokens per second, at most `burst` saved up."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._rate, self._burst, self._clock = rate, float(burst), clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token for `key` or raise RateLimited."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max_keys:
                    self._forget_full(now)
                bucket = self._buckets[key] = _Bucket(self._burst, now)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens < 1.0:
                wait = (1.0 - bucket.tokens) / self._rate if self._rate > 0 else 60.0
                raise RateLimited("too many requests; slow down", retry_after=wait)
            bucket.tokens -= 1.0

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled completely carries no state worth keeping.
        full = [
            k
            for k, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self._rate >= self._burst
        ]
        for key in full:
            del self._buckets[key]
