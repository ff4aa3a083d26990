"""The agent's status read from its store alone: `facepay terminal status` works while the
agent is stopped (the running agent's `GET /status` adds the live mode and library)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from facepay.shared.errors import FacepayError
from facepay.terminal.agent.package import open_limits
from facepay.terminal.agent.store import AgentStore
from facepay.terminal.agent.sync import SERVER_KEY, STALE_SECONDS
from facepay.terminal.protocol import unb64


def read_status(store: AgentStore, *, now: datetime) -> dict[str, Any]:
    """Mode (as last recorded), outbox depth, oldest unsynced age, library age, limits in
    force (their signature checked with the pinned key), last error."""
    counts = store.outbox_counts()
    oldest = store.oldest_unsynced()
    package = store.package()
    terminal_id = store.meta("terminal_id")
    pinned = store.meta(SERVER_KEY)
    limits: dict[str, Any] | None = None
    error = store.meta("last_error") or None
    if package is not None and pinned is not None and terminal_id is not None:
        try:
            signed = open_limits(
                package.limits, unb64(pinned, "server key"), terminal_id=terminal_id
            )
            limits = {"version": signed.version, "issued_at": signed.issued_at.isoformat(),
                      **signed.limits.to_json()}  # fmt: skip
        except FacepayError as refused:
            error = f"the stored offline limits are refused: {refused.message}"
    fetched_age = (now - package.fetched_at).total_seconds() if package else None
    counter, last_hash = store.chain_head()
    return {
        "terminal_id": terminal_id,
        "mode": store.meta("mode") or "unknown",
        "agent": "stopped",
        "outbox": {
            "depth": counts["pending"] + counts["held"],
            "pending": counts["pending"],
            "held": counts["held"],
            "synced": counts["synced"],
        },
        "oldest_unsynced_age_seconds": (
            round((now - oldest).total_seconds(), 1) if oldest is not None else None
        ),
        "library": {
            "version": package.library_version if package else None,
            "age_seconds": round(fetched_age, 1) if fetched_age is not None else None,
            "stale": fetched_age is None or fetched_age > STALE_SECONDS,
        },
        "limits": limits,
        "counter": counter,
        "last_hash": last_hash,
        "clock_offset_seconds": float(store.meta("clock_offset") or 0.0),
        "last_error": error,
    }
