"""A kiosk that pays through the terminal agent's local API (docs/terminal.md), not the server.

What `facepay kiosk --agent URL pay` and the demo's outage run: `POST /challenges` (the
server's challenge when the agent is online, a local one when it is not), film the patient
answering it, `POST /payments` with the bill and the capture. The agent decides online or
offline; this side only shows what it answered. One idempotency key per payment, made here
before the first capture, so that a retake and a repeat after `payment_outcome_unknown` are the
same payment. A liveness refusal (the agent's `liveness_local`, or the server's
`liveness_retry` / `liveness_spoof`) is filmed again, up to `attempts` times; any other refusal
ends with `KioskRefused` (the agent's code and sentence). The agent does not enrol, identify
without paying, or ask a second factor: those stay with `facepay.terminal.kiosk.Kiosk`, which
talks to the server directly.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from facepay.terminal.capture import CaptureSource, capture_body, challenge_of
from facepay.terminal.kiosk import RETAKES, KioskRefused
from facepay.vision.liveness import Capture

AGENT_RETAKES = (*RETAKES, "liveness_local")
"""Refusals after which the patient is filmed again (the agent's own, and the server's)."""


@dataclass(frozen=True)
class AgentPayment:
    """A payment the agent answered `paid`: online (a server receipt) or offline (a voucher
    written to the agent's disk, the insurance share provisional)."""

    body: dict[str, Any]
    """The agent's whole answer (docs/terminal.md, `POST /payments`)."""
    retakes: int

    @property
    def mode(self) -> str:
        """`online` or `offline`."""
        return str(self.body["mode"])

    @property
    def idempotency_key(self) -> str:
        """The payment's key: the same key again returns this payment, never a second one."""
        return str(self.body["idempotency_key"])

    @property
    def person_id(self) -> str | None:
        """Who paid, as the agent identified them."""
        person = self.body.get("person") or {}
        return str(person["person_id"]) if person.get("person_id") else None

    @property
    def notices(self) -> list[dict[str, Any]]:
        """Arrears and refunds due from earlier offline payments, to show the patient now."""
        return list(self.body.get("notices") or [])


@dataclass
class AgentKiosk:
    """A kiosk screen and camera in front of a terminal agent (`http` has its base URL)."""

    http: httpx.Client
    source: CaptureSource
    say: Callable[[str], None] = field(default=lambda _text: None)
    attempts: int = 3
    last_capture: Capture | None = field(default=None, init=False, repr=False)

    def challenge(self) -> dict[str, Any]:
        """A liveness challenge from the agent (`mode` says whose: the server's or its own)."""
        response = self.http.post("/challenges")
        if response.status_code != 201:
            raise _refused(response)
        body: dict[str, Any] = response.json()
        return body

    def capture(self, attempt: int = 0) -> dict[str, Any]:
        """Ask the agent for a challenge and film the patient answering it."""
        issued = self.challenge()
        challenge = challenge_of(issued)
        self.say(
            f"challenge {challenge.nonce[:8]}… ({issued.get('mode', '?')}): "
            f"{len(challenge.steps)} step(s), {self.source.label}"
        )
        recorded = self.source.record(challenge, self.say, attempt=attempt)
        self.last_capture = recorded
        self.say(f"filmed {len(recorded.frames)} frame(s)")
        return capture_body(recorded)

    def pay(self, bill_id: str, *, idempotency_key: str | None = None) -> AgentPayment:
        """Pay `bill_id` by face through the agent; `KioskRefused` when it refuses (status 503
        and `payment_outcome_unknown` when the server may have paid it: repeat with the key)."""
        key = idempotency_key or f"pay-{secrets.token_hex(8)}"
        response = self._send(bill_id, key, 0)
        retakes = 0
        while (
            response.status_code == 422
            and _code(response) in AGENT_RETAKES
            and retakes + 1 < self.attempts
        ):
            self.say(f"liveness: {_message(response)} - filming again")
            retakes += 1
            response = self._send(bill_id, key, retakes)
        if response.status_code != 201:
            raise _refused(response)
        paid = AgentPayment(response.json(), retakes)
        self._tell(paid)
        return paid

    def notices(self, person_id: str) -> list[dict[str, Any]]:
        """What the agent has to tell `person_id` about earlier offline payments."""
        response = self.http.get(f"/notices/{person_id}")
        if response.status_code != 200:
            raise _refused(response)
        return list(response.json()["notices"])

    def status(self) -> dict[str, Any]:
        """The agent's `GET /status`."""
        response = self.http.get("/status")
        if response.status_code != 200:
            raise _refused(response)
        body: dict[str, Any] = response.json()
        return body

    def _send(self, bill_id: str, key: str, attempt: int) -> httpx.Response:
        body = {"bill_id": bill_id, "capture": self.capture(attempt), "idempotency_key": key}
        return self.http.post("/payments", json=body)

    def _tell(self, paid: AgentPayment) -> None:
        body = paid.body
        if paid.mode == "online":
            receipt = body.get("receipt") or {}
            replayed = " (a repeat: nothing was charged again)" if body.get("replayed") else ""
            self.say(f"paid online: settlement {receipt.get('settlement_id')}{replayed}")
        else:
            voucher = body.get("voucher") or {}
            self.say(
                f"paid offline: voucher {voucher.get('id')} (counter {voucher.get('counter')}), "
                f"cash {body.get('cash_collected_fen')} fen. {body.get('message')}"
            )
        for notice in paid.notices:
            self.say(f"notice: {notice['message']}")


def _refused(response: httpx.Response) -> KioskRefused:
    body = _json(response)
    code = str(body.get("code") or "http_error")
    message = str(body.get("message") or body.get("detail") or f"HTTP {response.status_code}")
    if code == "payment_outcome_unknown" and body.get("idempotency_key"):
        message += f" (repeat with --idempotency-key {body['idempotency_key']})"
    return KioskRefused(response.status_code, code, message)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _code(response: httpx.Response) -> str:
    return str(_json(response).get("code") or "http_error")


def _message(response: httpx.Response) -> str:
    body = _json(response)
    return str(body.get("message") or body.get("detail") or f"HTTP {response.status_code}")
