"""The server link: signed requests on the server's clock, and whether the server is there.

Every request is signed as `facepay.terminal.signing` defines, with a timestamp on the server's
clock: the offset (server minus this machine) is learnt from each response's `Date` header and
from the offline package's `server_time`, and kept in the store, so a terminal whose clock is 10
minutes off still signs timestamps the server accepts (it refuses more than 5 minutes of skew).
A refusal `timestamp_out_of_window` is retried once with the offset just learnt.

The server is *offline* when it cannot be reached: a connection error, a timeout, or a gateway's
502 / 503 / 504. `ServerOffline.sent` says whether the request may have reached the server (a
read timeout after the body went out: the server may have committed), which decides whether a
payment may fall back to offline (never when it may have been paid online).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.terminal.agent.store import AgentStore, StoreFull
from facepay.terminal.signing import sign_request

GATEWAY_DOWN = (502, 503, 504)
TIMEOUT = httpx.Timeout(10.0, connect=2.0)
"""Short by default: a kiosk must know within seconds whether to pay offline."""
CAPTURE_TIMEOUT = httpx.Timeout(30.0, connect=2.0)
"""Liveness and 1:N on the server take a second or more, longer when it is busy."""
CLOCK_KEY = "clock_offset"


class ServerOffline(Exception):  # noqa: N818 - reads as the state, like httpx's errors
    """The server could not be reached; `sent`: the request may have reached it anyway."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.sent = sent


class ServerLink:
    """Signed requests to the server, the clock offset, and the online / offline state."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        terminal_id: str,
        key: Ed25519PrivateKey,
        store: AgentStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.terminal_id = terminal_id
        self.key = key
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        stored = store.meta(CLOCK_KEY) if store is not None else None
        self.offset = float(stored) if stored else 0.0
        self.online: bool | None = None
        """None until the first request; then whether the last one reached the server."""
        self.last_error: str | None = None

    def server_now(self) -> float:
        """This machine's time corrected to the server's, in Unix seconds."""
        return self._clock() + self.offset

    def learn_clock(self, server_time: datetime) -> None:
        """Take the server's time (a response's `server_time`) as the clock."""
        self._set_offset(server_time.timestamp() - self._clock())

    def _set_offset(self, offset: float) -> None:
        with self._lock:
            changed = abs(offset - self.offset) >= 1.0
            self.offset = offset
        if changed and self._store is not None:
            # On a full disk the offset is kept in memory, and stored at the next change.
            with contextlib.suppress(StoreFull):
                self._store.set_meta(CLOCK_KEY, f"{offset:.3f}")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> httpx.Response:
        """Sign and send one request; `ServerOffline` if the server cannot be reached."""
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        response = self._send(method, path, content, headers, timeout)
        if response.status_code == 401 and _code(response) == "timestamp_out_of_window":
            # The offset was just learnt from this response's Date header: sign again.
            response = self._send(method, path, content, headers, timeout)
        return response

    def _send(
        self,
        method: str,
        path: str,
        content: bytes,
        headers: dict[str, str] | None,
        timeout: httpx.Timeout,
    ) -> httpx.Response:
        signed = sign_request(
            self.key,
            method.upper(),
            path,
            content,
            terminal_id=self.terminal_id,
            timestamp=int(self.server_now()),
        )
        sent_headers = {**signed, **(headers or {})}
        if content:
            sent_headers["Content-Type"] = "application/json"
        try:
            response = self.http.request(
                method, path, content=content, headers=sent_headers, timeout=timeout
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise self._offline(f"cannot reach the server: {error}", sent=False) from None
        except httpx.TransportError as error:
            raise self._offline(f"the server did not answer: {error}", sent=True) from None
        self._learn_date(response)
        if response.status_code in GATEWAY_DOWN:
            raise self._offline(
                f"the server is unavailable (HTTP {response.status_code})", sent=True
            )
        self.online = True
        self.last_error = None
        return response

    def _offline(self, message: str, *, sent: bool) -> ServerOffline:
        self.online = False
        self.last_error = message
        return ServerOffline(message, sent=sent)

    def _learn_date(self, response: httpx.Response) -> None:
        date = response.headers.get("date")
        if not date:
            return
        try:
            server = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        # `Date` has whole seconds: only a difference beyond its resolution is news.
        if abs(server - self.server_now()) > 2.0:
            self._set_offset(server + 0.5 - self._clock())


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("code", ""))
    except ValueError:
        return ""
