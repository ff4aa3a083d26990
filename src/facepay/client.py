"""HTTP clients of the API: a staff session (Bearer token) and a signed terminal session.

Both wrap any `httpx.Client` (a real connection, or Starlette's TestClient in tests). The
terminal session signs the exact bytes it sends, with the path and query as they go on the wire.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.terminal.signing import private_key_from_pem, sign_request


def server_ms(response: httpx.Response, metric: str = "app") -> float:
    """The server's own handling time from its `Server-Timing: app;dur=<ms>` header (`queue`:
    how long a capture waited for a place before it was read)."""
    for header in response.headers.get_list("server-timing"):
        for part in header.split(","):
            name, _, params = part.strip().partition(";")
            if name == metric and params.startswith("dur="):
                return float(params[4:])
    return 0.0 if metric == "queue" else float("nan")


class StaffSession:
    """Requests as a logged-in staff member."""

    def __init__(self, http: httpx.Client, token: str) -> None:
        self.http = http
        self._auth = {"Authorization": f"Bearer {token}"}

    @classmethod
    def login(cls, http: httpx.Client, username: str, password: str) -> StaffSession:
        """Log in; raises httpx.HTTPStatusError on refusal."""
        response = http.post("/v1/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        return cls(http, response.json()["access_token"])

    def on(self, http: httpx.Client) -> StaffSession:
        """The same login, sending to another server (another worker of the same platform)."""
        other = StaffSession(http, "")
        other._auth = dict(self._auth)
        return other

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Send one request with the bearer token."""
        extra = {**self._auth, **(headers or {})}
        return self.http.request(method, path, json=body, headers=extra)


class TerminalSession:
    """Requests signed by a terminal's Ed25519 key."""

    def __init__(self, http: httpx.Client, terminal_id: str, key: Ed25519PrivateKey) -> None:
        self.http = http
        self.terminal_id = terminal_id
        self.key = key

    @classmethod
    def from_pem(cls, http: httpx.Client, terminal_id: str, pem: str) -> TerminalSession:
        """A session from the private key PEM the registration returned."""
        return cls(http, terminal_id, private_key_from_pem(pem.encode("ascii")))

    def signed_headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """The five signature headers for these exact bytes."""
        return sign_request(self.key, method, path, body, terminal_id=self.terminal_id)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Serialise, sign and send one request."""
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        signed = self.signed_headers(method.upper(), path, content)
        all_headers = {**signed, **(headers or {})}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        return self.http.request(method, path, content=content, headers=all_headers)
