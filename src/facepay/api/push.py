"""Waking a pharmacy window's event stream the moment an order of its site commits.

One process's streams wait on `SitePush`: a route that committed a payment, a collection or a
return calls `notify(site)` and every stream of that site on this worker looks in the database
at once. Streams on other workers find the same change by their own cheap poll (the latest
event number of their window, every `pharmacy_stream_poll_ms`), so the database stays the one
source of truth and a lost wake-up costs at most one poll interval.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from facepay.shared.errors import RateLimited


class TooManyStreams(RateLimited):
    """The site holds its bound of window streams on this worker; retry after a few seconds."""

    code = "too_many_streams"


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)


class SitePush:
    """Per-site wake-ups for event streams, and a bound on how many one site holds open."""

    def __init__(self, *, streams_per_site: int) -> None:
        self._limit = streams_per_site
        self._lock = threading.Lock()
        self._waiters: dict[str, set[_Waiter]] = {}

    @contextmanager
    def subscribe(self, site: str) -> Iterator[asyncio.Event]:
        """An event set whenever the site notifies; refused (429) past the site's bound. Call
        from the event loop that will wait on it."""
        waiter = _Waiter(asyncio.get_running_loop())
        with self._lock:
            held = self._waiters.setdefault(site, set())
            if len(held) >= self._limit:
                raise TooManyStreams(
                    f"this site has {self._limit} window streams open already", retry_after=5
                )
            held.add(waiter)
        try:
            yield waiter.event
        finally:
            with self._lock:
                held.discard(waiter)
                if not held:
                    self._waiters.pop(site, None)

    def open_streams(self, site: str) -> int:
        """How many streams of the site this process holds."""
        with self._lock:
            return len(self._waiters.get(site, ()))

    def notify(self, site: str) -> None:
        """Wake every stream of the site on this process (safe from any thread)."""
        with self._lock:
            waiters = list(self._waiters.get(site, ()))
        for waiter in waiters:
            try:
                waiter.loop.call_soon_threadsafe(waiter.event.set)
            except RuntimeError:  # its loop closed: the stream is ending anyway
                continue


class EventCursor:
    """Which window events a stream has sent. Numbers come from one database sequence shared
    by every window and site, so a window's own numbers are rarely consecutive, and on
    PostgreSQL a lower one can commit after a higher one (or never, when its transaction rolls
    back): the stream reads from `floor` (everything at or below it was sent or given up),
    moves the floor over a sent number at once when it follows the floor, and otherwise once
    it was sent `gap_seconds` ago (a transaction holding a lower number of this window has
    committed or rolled back by then)."""

    def __init__(self, start: int, *, gap_seconds: float = 5.0) -> None:
        self.floor = start
        self._sent: dict[int, float | None] = {}
        """Sent numbers above the floor, and when `advance` first saw each."""
        self._gap_seconds = gap_seconds

    def fresh(self, seqs: list[int]) -> list[int]:
        """Those of `seqs` not sent yet (the caller sends them, in order)."""
        new = [seq for seq in seqs if seq > self.floor and seq not in self._sent]
        self._sent.update(dict.fromkeys(new))
        return new

    def advance(self, now: float) -> None:
        """Move the floor over the sent numbers in order: one that follows the floor, or one
        sent long enough ago that no gap below it can still fill."""
        for seq, seen in self._sent.items():
            if seen is None:
                self._sent[seq] = now
        for seq in sorted(self._sent):
            seen = self._sent[seq]
            assert seen is not None
            if seq != self.floor + 1 and now - seen < self._gap_seconds:
                break
            self.floor = seq
            del self._sent[seq]

    @property
    def last(self) -> int:
        """The highest number sent (the stream's Last-Event-ID)."""
        return max(self._sent, default=self.floor)
