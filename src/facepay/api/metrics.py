"""Prometheus metrics: request latency per route, settlements, identification and liveness outcomes.

Each app gets its own `CollectorRegistry`, so several apps in one process (tests) do not clash.
Labels are route templates and outcome names only: never ids, amounts or anything personal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_log = structlog.get_logger("facepay.api")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)


class ApiMetrics:
    """The collectors of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "facepay_http_request_duration_seconds",
            "Server-side latency of HTTP requests by route template",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.settlements = Counter(
            "facepay_settlements_total",
            "Settlements by outcome (settled, replayed, refunded, refused)",
            ("outcome",),
            registry=self.registry,
        )
        self.identifications = Counter(
            "facepay_identification_decisions_total",
            "1:N identification decisions (match, ambiguous, no_match, spoof, retry)",
            ("decision",),
            registry=self.registry,
        )
        self.liveness = Counter(
            "facepay_liveness_outcomes_total",
            "Liveness decisions (live, spoof, retry) and the attack guessed for spoofs",
            ("decision", "attack"),
            registry=self.registry,
        )

        # Zero series from the start, so that dashboards and rate() see every outcome.
        for outcome in ("settled", "replayed", "refunded"):
            self.settlements.labels(outcome)
        for decision in ("match", "ambiguous", "no_match", "spoof", "retry"):
            self.identifications.labels(decision)
        for decision in ("live", "spoof", "retry"):
            self.liveness.labels(decision, "none" if decision != "spoof" else "print")

    def watch_gallery(self, *, templates: Callable[[], int], position: Callable[[], int]) -> None:
        """Gauges read at each scrape: the templates this process's gallery holds and how far
        it has followed the template journal (compare the workers' positions to see a lag)."""
        held = Gauge(
            "facepay_gallery_templates",
            "Templates in this process's gallery",
            registry=self.registry,
        )
        held.set_function(templates)
        journal = Gauge(
            "facepay_gallery_journal_position",
            "Template journal entries this process's gallery has applied",
            registry=self.registry,
        )
        journal.set_function(position)

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class LatencyMiddleware:
    """ASGI middleware observing each request's duration under its route template."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        # Routing rewrites the scope (a mount changes its root path): keep what arrived.
        arrived = dict(scope)

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # JSON responses start once the handler is done: this is the server's own time.
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers = [
                    *message.get("headers", []),
                    (b"server-timing", b"app;dur=%.1f" % elapsed_ms),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive, send_status)
        finally:
            template = route_template(scope, arrived)
            elapsed = time.perf_counter() - started
            self._metrics.latency.labels(scope["method"], template, str(status)).observe(elapsed)
            _log.info(
                "http_request",
                method=scope["method"],
                route=template,
                status=status,
                ms=round(elapsed * 1000, 1),
            )


def route_template(scope: Scope, arrived: Scope) -> str:
    """The template of the route that served the request, `unmatched` if none did.

    FastAPI's own routes put themselves in `scope["route"]`; the routes Starlette serves (the
    OpenAPI document, the documentation pages and their assets) do not, so those are matched
    again against the app's routes, as the request arrived.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return str(path)
    for candidate in getattr(arrived.get("app"), "routes", ()):
        match, _ = candidate.matches(arrived)
        if match is Match.FULL:
            return _template_of(candidate)
    return "unmatched"


def _template_of(route: Any) -> str:
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    return str(getattr(route, "path", None) or "unmatched")
