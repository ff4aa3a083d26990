"""Server side of terminal request signing: who signed, whether it is fresh, whether it is new.

Framework-free: the HTTP layer passes method, raw path + query, headers and body bytes and gets a
terminal `Principal` back or an `Unauthorized` with one of these stable codes:

    malformed_signature_headers  a header is missing, repeated or breaks the grammar
    body_digest_mismatch         the body is not the one the terminal hashed (changed or cut)
    unknown_terminal             no active terminal has this id
    timestamp_out_of_window      the timestamp is more than `max_skew` from server time
    bad_signature                wrong key, forged signature, or method / path / nonce altered
    nonce_replayed               this terminal already used this nonce inside the window
    replay_cache_full            too many live nonces for this terminal (fail closed, retry later)

Ed25519 cannot tell a wrong key from a forged signature from an altered path: all three are
`bad_signature` by construction.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from facepay.access.rbac import Principal, PrincipalKind, TerminalKind
from facepay.shared.clock import Clock
from facepay.shared.errors import InvalidInput, Unauthorized
from facepay.terminal import signing as protocol


@dataclass(frozen=True)
class TerminalKey:
    """A registered terminal: its hospital, its raw 32-byte Ed25519 public key and its kind
    (None: a kind this version does not know)."""

    terminal_id: str
    hospital_id: str
    public_key: bytes
    kind: TerminalKind | None = TerminalKind.KIOSK


class TerminalKeys(Protocol):
    """Looks up registered terminals. Revoked or disabled terminals must return None."""

    def get(self, terminal_id: str) -> TerminalKey | None:
        """The active terminal with this id, if any."""
        ...


class InMemoryTerminalKeys:
    """A `TerminalKeys` in a dict, for tests and the demo."""

    def __init__(self, keys: list[TerminalKey] | None = None) -> None:
        self._keys = {key.terminal_id: key for key in keys or []}

    def add(self, key: TerminalKey) -> None:
        """Register (or replace) a terminal."""
        self._keys[key.terminal_id] = key

    def remove(self, terminal_id: str) -> None:
        """Revoke a terminal."""
        self._keys.pop(terminal_id, None)

    def get(self, terminal_id: str) -> TerminalKey | None:
        """The terminal, if registered."""
        return self._keys.get(terminal_id)


class NonceStore(Protocol):
    """Remembers (terminal, nonce) pairs until they expire.

    `remember` must be atomic (check and insert in one step: a unique key in a database, SET NX in
    Redis) and must keep memory bounded; when it cannot take more it raises Unauthorized with code
    `replay_cache_full` rather than forget a live nonce, which would re-open a replay.
    """

    def remember(
        self, *, terminal_id: str, nonce: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Record the nonce; False if it is already recorded and not yet expired."""
        ...


class InMemoryNonceStore:
    """A `NonceStore` in process memory: at most `max_per_terminal` live nonces per terminal."""

    def __init__(self, *, max_per_terminal: int = 20_000) -> None:
        self._max = max_per_terminal
        self._seen: dict[str, dict[str, datetime]] = {}
        self._lock = threading.Lock()

    def remember(
        self, *, terminal_id: str, nonce: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Record the nonce unless it is live already; purge expired ones when the table is full."""
        with self._lock:
            seen = self._seen.setdefault(terminal_id, {})
            known = seen.get(nonce)
            if known is not None and known > now:
                return False
            if len(seen) >= self._max:
                for old in [n for n, until in seen.items() if until <= now]:
                    del seen[old]
                if len(seen) >= self._max:
                    raise _fail("replay_cache_full", "too many requests in the replay window")
            seen[nonce] = expires_at
            return True

    def purge(self, *, now: datetime) -> None:
        """Drop every expired nonce (call now and then to return memory)."""
        with self._lock:
            for terminal_id, seen in list(self._seen.items()):
                live = {n: until for n, until in seen.items() if until > now}
                if live:
                    self._seen[terminal_id] = live
                else:
                    del self._seen[terminal_id]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(seen) for seen in self._seen.values())


def _fail(code: str, message: str) -> Unauthorized:
    return Unauthorized(message, code=code)


def _single_headers(headers: Mapping[str, str] | list[tuple[str, str]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    wanted = {name.lower() for name in protocol.SIGNED_HEADERS}
    found: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        if key in wanted:
            if key in found:
                raise _fail("malformed_signature_headers", f"header {name} is repeated")
            found[key] = value
    missing = wanted - found.keys()
    if missing:
        raise _fail("malformed_signature_headers", f"missing header(s): {sorted(missing)}")
    return found


class RequestVerifier:
    """Checks signed terminal requests against registered keys, the clock and seen nonces."""

    def __init__(
        self,
        *,
        keys: TerminalKeys,
        nonces: NonceStore,
        clock: Clock,
        max_skew: timedelta = timedelta(minutes=5),
    ) -> None:
        self._keys = keys
        self._nonces = nonces
        self._clock = clock
        self._max_skew = max_skew

    def verify(
        self,
        *,
        method: str,
        path: str,
        headers: Mapping[str, str] | list[tuple[str, str]],
        body: bytes,
    ) -> Principal:
        """Return the terminal principal if the request is authentic, fresh and new."""
        found = _single_headers(headers)
        terminal_id = found[protocol.HEADER_TERMINAL.lower()]
        stamp = found[protocol.HEADER_TIMESTAMP.lower()]
        digest = found[protocol.HEADER_CONTENT_SHA256.lower()]
        signature = _decode_signature(found[protocol.HEADER_SIGNATURE.lower()])
        if not protocol.TIMESTAMP.fullmatch(stamp):
            raise _fail("malformed_signature_headers", "timestamp must be unix seconds")
        try:
            message = protocol.canonical_request(
                terminal_id=terminal_id,
                method=method,
                path=path,
                timestamp=int(stamp),
                nonce=found[protocol.HEADER_NONCE.lower()],
                content_sha256=digest,
            )
        except InvalidInput as exc:
            raise _fail("malformed_signature_headers", exc.message) from exc
        if protocol.body_sha256(body) != digest:
            raise _fail("body_digest_mismatch", "the body does not match its signed digest")
        terminal = self._keys.get(terminal_id)
        if terminal is None:
            raise _fail("unknown_terminal", "no active terminal with this id")
        now = self._clock.now()
        offset = int(stamp) - now.timestamp()
        if abs(offset) > self._max_skew.total_seconds():
            raise _fail("timestamp_out_of_window", f"timestamp is {offset:+.0f} s from server time")
        try:
            Ed25519PublicKey.from_public_bytes(terminal.public_key).verify(signature, message)
        except (InvalidSignature, ValueError) as exc:
            raise _fail("bad_signature", "the signature does not verify") from exc
        # Only after the signature holds: nobody without the key can burn nonces or fill memory.
        # A replay is refused by the timestamp check once signed_at + max_skew has passed.
        nonce = found[protocol.HEADER_NONCE.lower()]
        expires = now + timedelta(seconds=offset) + self._max_skew
        if not self._nonces.remember(
            terminal_id=terminal_id, nonce=nonce, expires_at=expires, now=now
        ):
            raise _fail("nonce_replayed", "this nonce was already used")
        return Principal(
            PrincipalKind.TERMINAL,
            terminal.terminal_id,
            terminal.hospital_id,
            terminal_kind=terminal.kind,
        )


def _decode_signature(value: str) -> bytes:
    if not protocol.SIGNATURE_B64.fullmatch(value):
        raise _fail("malformed_signature_headers", "signature must be 64 bytes in base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail("malformed_signature_headers", "signature is not base64") from exc
