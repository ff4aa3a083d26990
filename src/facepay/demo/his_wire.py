"""The demo HIS on the wire: its MLLP sender, the interface engine its messages pass through,
its MLLP inbox for facepay's notifications, and its FHIR rest-hook receiver.

- `MllpSender` sends one framed message at a time and reads its ACK (original mode).
- `InterfaceEngine` sits between the HIS and facepay's listener, as an interface engine does
  in many hospitals: it relays each message and facepay's ACK. Told to `lose` a control id, it
  answers that message AA itself and never forwards it: the HIS believes it delivered.
- `MllpInbox` takes facepay's DFT^P03 notifications, ACKs each AA (AE if unreadable) and hands
  it to the ledger, which drops an event id it heard before.
- `HookReceiver` takes facepay's FHIR rest-hook notifications, checks the signature against the
  Subscription's key (fresh timestamp, new nonce, facepay's own verifier), and answers 204; a
  forged or stale one is 401 and changes nothing.

Every server binds 127.0.0.1 on a free port and runs on daemon threads; each is a context
manager that closes its socket. Frames are bounded (MAX_FRAME) and connections time out.
"""

from __future__ import annotations

import base64
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from facepay.access.signing import (
    InMemoryNonceStore,
    InMemoryTerminalKeys,
    RequestVerifier,
    TerminalKey,
)
from facepay.adapters.hl7v2.framing import Frame, MllpDecoder, frame
from facepay.adapters.hl7v2.messages import Hl7Reject, Parsed, parse
from facepay.demo.his import HIS_APPLICATION, HIS_FACILITY, HisError, Ledger, fen_of, invoice_ref
from facepay.shared.clock import SystemClock
from facepay.shared.errors import Unauthorized

MAX_FRAME = 1 << 20
MAX_BODY = 1 << 20
TIMEOUT = 30.0
SERVER_TERMINAL = "facepay-server"


@dataclass(frozen=True)
class Ack:
    """An ACK as the HIS reads it: MSA-1, MSA-2, MSA-3 (what was made) and ERR-8 (why not)."""

    code: str
    control_id: str
    text: str
    error: str = ""


def read_frame(sock: socket.socket, decoder: MllpDecoder) -> bytes | None:
    """The next frame off `sock` (None: the peer closed first)."""
    while True:
        data = sock.recv(65_536)
        if not data:
            return None
        for event in decoder.feed(data):
            if isinstance(event, Frame):
                return event.payload
            raise HisError("an oversized frame")


def ack_of(payload: bytes) -> Ack:
    """Read an ACK; HisError if it is not one."""
    try:
        parsed = parse(payload.decode("utf-8"))
        msa = parsed.one("MSA")
    except (Hl7Reject, UnicodeDecodeError) as error:
        raise HisError(f"not an ACK: {error}") from None
    err = parsed.segments("ERR")
    return Ack(msa.get(1), msa.get(2), msa.get(3), err[0].get(8) if err else "")


def ack_text(parsed: Parsed | None, code: str, note: str = "") -> str:
    """The HIS's ACK of a message facepay sent it."""
    control = parsed.control_id if parsed else ""
    event = parsed.msh.get(9, 2) if parsed else ""
    site = parsed.sending_facility if parsed else ""
    return "\r".join([
        f"MSH|^~\\&|{HIS_APPLICATION}|{HIS_FACILITY}|FACEPAY|{site}|||ACK^{event}^ACK"
        f"|ACK{control}|P|2.5",
        f"MSA|{code}|{control}" + (f"|{note}" if note else ""),
    ])  # fmt: skip


class MllpSender:
    """One MLLP connection from the HIS; `send` waits for the ACK of each message."""

    def __init__(self, host: str, port: int, *, timeout: float = TIMEOUT) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._decoder = MllpDecoder(MAX_FRAME)

    def send(self, text: str) -> Ack:
        """Send one message (UTF-8) and read its ACK."""
        self._sock.sendall(frame(text.encode("utf-8")))
        payload = read_frame(self._sock, self._decoder)
        if payload is None:
            raise HisError("the connection closed before the ACK")
        return ack_of(payload)

    def close(self) -> None:
        """Close the connection."""
        self._sock.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def _serving(handler: type[socketserver.BaseRequestHandler], owner: object) -> Iterator[int]:
    server = _Server(("127.0.0.1", 0), handler)
    server.owner = owner  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), daemon=True, name="demo-his"
    )
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass
class InterfaceEngine:
    """Relays the HIS's messages to facepay's listener at `upstream`; loses those in `lose`."""

    upstream: tuple[str, int]
    lose: set[str] = field(default_factory=set)
    relayed: int = 0
    lost: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def running(self) -> Iterator[int]:
        """Listen on a free loopback port (yielded) until the block ends."""
        with _serving(_EngineHandler, self) as port:
            yield port

    def take(self, payload: bytes, upstream: _Upstream) -> bytes:
        """The ACK for one message of the HIS: facepay's, or the engine's own for a lost one."""
        text = payload.decode("utf-8")
        parsed = parse(text)
        with self._lock:
            lost = parsed.control_id in self.lose
            if lost:
                self.lose.discard(parsed.control_id)
                self.lost.append(parsed.control_id)
            else:
                self.relayed += 1
        if lost:
            return ack_text(parsed, "AA").encode("utf-8")
        return upstream.relay(text)


class _EngineHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        engine: InterfaceEngine = self.server.owner  # type: ignore[attr-defined]
        self.request.settimeout(TIMEOUT)
        decoder = MllpDecoder(MAX_FRAME)
        upstream = _Upstream(*engine.upstream)
        try:
            while (payload := read_frame(self.request, decoder)) is not None:
                self.request.sendall(frame(engine.take(payload, upstream)))
        except (OSError, HisError, Hl7Reject):
            return
        finally:
            upstream.close()


class _Upstream(MllpSender):
    """The engine's connection to facepay: relays the ACK's bytes as they came."""

    def relay(self, text: str) -> bytes:
        """Send one message; facepay's ACK as it came."""
        self._sock.sendall(frame(text.encode("utf-8")))
        payload = read_frame(self._sock, self._decoder)
        if payload is None:
            raise HisError("facepay closed the connection before the ACK")
        return payload


@dataclass
class MllpInbox:
    """The HIS's MLLP endpoint for facepay's notifications."""

    ledger: Ledger
    received: int = 0

    @contextmanager
    def running(self) -> Iterator[int]:
        """Listen on a free loopback port (yielded) until the block ends."""
        with _serving(_InboxHandler, self) as port:
            yield port

    def take(self, payload: bytes) -> bytes:
        """The ACK of one notification (AA once it is in the ledger, AE if unreadable)."""
        self.received += 1
        parsed: Parsed | None = None
        try:
            parsed = parse(payload.decode("utf-8"))
            if parsed.message_type != "DFT^P03":
                return ack_text(parsed, "AR", "only DFT^P03 is taken").encode("utf-8")
            ref = parsed.one("PV1").get(19)
            paid = refunded = None
            for ft1 in parsed.segments("FT1"):
                if ft1.get(7) == "TOTAL":
                    paid = fen_of(ft1.get(11))
                elif ft1.get(7) == "REFUND":
                    refunded = -fen_of(ft1.get(11))
            self.ledger.heard(parsed.control_id, "mllp", ref, paid_fen=paid,
                              refunded_fen=refunded)  # fmt: skip
        except (Hl7Reject, UnicodeDecodeError, HisError) as error:
            return ack_text(parsed, "AE", str(error)[:80]).encode("utf-8")
        return ack_text(parsed, "AA").encode("utf-8")


class _InboxHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        inbox: MllpInbox = self.server.owner  # type: ignore[attr-defined]
        self.request.settimeout(TIMEOUT)
        decoder = MllpDecoder(MAX_FRAME)
        try:
            while (payload := read_frame(self.request, decoder)) is not None:
                self.request.sendall(frame(inbox.take(payload)))
        except (OSError, HisError):
            return


@dataclass
class HookReceiver:
    """The HIS's FHIR rest-hook endpoint: signed notifications only, each event once."""

    ledger: Ledger
    site: str
    path: str = "/fhir-hook"
    accepted: int = 0
    refused: list[str] = field(default_factory=list)
    _verifier: RequestVerifier | None = None

    def trust(self, public_key_b64: str) -> None:
        """Take the key a Subscription's notifications are signed with (its extension)."""
        key = TerminalKey(SERVER_TERMINAL, self.site, base64.b64decode(public_key_b64), None)
        self._verifier = RequestVerifier(
            keys=InMemoryTerminalKeys([key]), nonces=InMemoryNonceStore(), clock=SystemClock()
        )

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve on a free loopback port; yields the endpoint URL."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                text = self.headers.get("content-length") or "0"
                length = int(text) if text.isdigit() else -1
                if not 0 <= length <= MAX_BODY:
                    self._answer(413 if length > MAX_BODY else 400)
                    return
                body = self.rfile.read(length)
                self._answer(owner.take(self.path, dict(self.headers.items()), body))

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), daemon=True, name="demo-his-hook"
        )
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}{self.path}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)

    def take(self, path: str, headers: dict[str, str], body: bytes) -> int:
        """The HTTP status for one notification: 204 taken (or a repeat), 401 not authentic,
        400 unreadable."""
        verifier = self._verifier
        if verifier is None:
            self.refused.append("no key yet")
            return 401
        try:
            verifier.verify(method="POST", path=path, headers=headers, body=body)
        except Unauthorized as error:
            self.refused.append(error.code)
            return 401
        try:
            bundle = json.loads(body, parse_float=str, parse_int=str)
            event_id = str(bundle["identifier"]["value"])
            invoices = [
                e["resource"] for e in bundle.get("entry") or ()
                if e.get("resource", {}).get("resourceType") == "Invoice"
            ]  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError):
            self.refused.append("unreadable")
            return 400
        for invoice in invoices:
            self._invoice(event_id, invoice)
        self.accepted += 1
        return 204

    def _invoice(self, event_id: str, invoice: dict[str, Any]) -> None:
        ref = invoice_ref(invoice)
        if ref is None:
            return
        total = fen_of((invoice.get("totalNet") or {}).get("value", "0"))
        status = invoice.get("status")
        self.ledger.heard(
            event_id, "fhir", ref,
            paid_fen=total if status == "balanced" else None,
            refunded_fen=total if status == "cancelled" else None,
        )  # fmt: skip
