"""The agent's Prometheus metrics, in a registry of its own (`GET /metrics`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from facepay.terminal.agent.sync import STALE_SECONDS

if TYPE_CHECKING:
    from facepay.terminal.agent.service import Agent


class AgentMetrics:
    """Outbox depth, sync results by status, offline payments, library age, online."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._depth = Gauge(
            "facepay_terminal_outbox_depth",
            "Offline vouchers not settled by the server yet.",
            registry=self.registry,
        )
        self._results = Counter(
            "facepay_terminal_sync_results",
            "Voucher upload results by status (posted, held, quarantined).",
            ["status", "replayed"],
            registry=self.registry,
        )
        self._paid = Counter(
            "facepay_terminal_offline_payments",
            "Payments taken offline (vouchers written).",
            registry=self.registry,
        )
        self._refused = Counter(
            "facepay_terminal_offline_refusals",
            "Offline payments refused, by code.",
            ["code"],
            registry=self.registry,
        )
        self._age = Gauge(
            "facepay_terminal_library_age_seconds",
            "Age of the offline face library in force (-1: none).",
            registry=self.registry,
        )
        self._stale = Gauge(
            "facepay_terminal_library_stale",
            "1 when the offline library is missing or older than 10 minutes (the stale alert).",
            registry=self.registry,
        )
        self._online = Gauge(
            "facepay_terminal_online", "1 when the server answered last.", registry=self.registry
        )

    def bind(self, agent: Agent) -> None:
        """Read the live values from the agent at each scrape."""

        def depth() -> float:
            counts = agent.store.outbox_counts()
            return float(counts["pending"] + counts["held"])

        def age() -> float:
            library = agent.keeper.state.library
            if library is None:
                return -1.0
            return (agent.server_now() - library.issued_at).total_seconds()

        def stale() -> float:
            seconds = age()
            return 1.0 if seconds < 0 or seconds > STALE_SECONDS else 0.0

        self._depth.set_function(depth)
        self._age.set_function(age)
        self._stale.set_function(stale)
        self._online.set_function(lambda: 1.0 if agent.link.online else 0.0)

    def synced(self, status: str, replayed: bool) -> None:
        """Count one upload result."""
        self._results.labels(status=status, replayed=str(replayed).lower()).inc()

    def offline_paid(self) -> None:
        """Count one offline payment."""
        self._paid.inc()

    def offline_refused(self, code: str) -> None:
        """Count one offline refusal."""
        self._refused.labels(code=code).inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
