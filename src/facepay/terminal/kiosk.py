"""A kiosk's side of the API, step by step: what `facepay kiosk`, the demo and the tests run.

Each step is reported through `say(text)` (the command prints it; a kiosk screen would show it).
A capture that liveness refuses with `liveness_retry` or `liveness_spoof` is filmed again, up to
`attempts` times, as a kiosk asks the patient to try again; any other refusal ends the flow with
`KioskRefused` (the server's code and sentence).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from facepay.client import TerminalSession, server_ms
from facepay.shared.errors import InvalidInput
from facepay.terminal.capture import CaptureSource, capture_body, challenge_of, encode_image
from facepay.vision.liveness import Capture
from facepay.vision.types import RGBImage

RETAKES = ("liveness_retry", "liveness_spoof")
"""Refusals after which the patient is filmed again."""
CARD_FIELDS = ("id_number", "name", "sex", "birth_date")


class KioskRefused(Exception):  # noqa: N818 - reads as what happened, like httpx's errors
    """The server refused a step: its HTTP status, stable code and sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Payment:
    """A finished face payment: who paid, the split, the receipt, and what it took."""

    identification: dict[str, Any]
    presettlement: dict[str, Any]
    receipt: dict[str, Any]
    idempotency_key: str
    server_ms: float
    retakes: int


@dataclass
class Kiosk:
    """One signed terminal and its camera (or other capture source)."""

    session: TerminalSession
    source: CaptureSource
    say: Callable[[str], None] = field(default=lambda _text: None)
    attempts: int = 3
    last_capture: Capture | None = field(default=None, init=False, repr=False)
    """What the camera filmed last (the demo shows a frame of it)."""

    def challenge(self) -> dict[str, Any]:
        """A fresh liveness challenge from the server."""
        return self._expect(self.session.request("POST", "/v1/liveness/challenges"), 201)

    def capture(self, attempt: int = 0) -> dict[str, Any]:
        """Ask for a challenge and film the patient answering it: the API's capture body."""
        issued = challenge_of(self.challenge())
        self.say(f"challenge {issued.nonce[:8]}…: {len(issued.steps)} step(s), {self.source.label}")
        recorded = self.source.record(issued, self.say, attempt=attempt)
        self.last_capture = recorded
        self.say(f"filmed {len(recorded.frames)} frame(s)")
        return capture_body(recorded)

    def identification_response(self) -> tuple[httpx.Response, int]:
        """POST /v1/identifications with a fresh capture, retaken on a liveness refusal: the
        last response and the number of retakes."""
        return self._retaking(
            lambda attempt: self.session.request(
                "POST", "/v1/identifications", {"capture": self.capture(attempt)}
            )
        )

    def identify(self) -> tuple[dict[str, Any], float, int]:
        """Who is in front of the kiosk: the identification, server time and retakes."""
        response, retakes = self.identification_response()
        found = self._expect(response, 201)
        self.say(f"identified: {found['decision']} (identification {found['identification_id']})")
        return found, server_ms(response), retakes

    def enrol(
        self,
        card: dict[str, Any],
        chip_photo: bytes | RGBImage,
        *,
        consent_purpose: str,
        reach: str | None = None,
    ) -> dict[str, Any]:
        """Enrol the patient: ID card data and chip photo, a live capture, the consent (`reach`
        "region" or "site"; None: the site's default)."""
        response = self.enrolment_response(
            card, chip_photo, consent_purpose=consent_purpose, reach=reach
        )
        enrolled = self._expect(response, 201)
        self.say(f"enrolled: person {enrolled['person_id']}, template {enrolled['template_id']}")
        return enrolled

    def enrolment_response(
        self,
        card: dict[str, Any],
        chip_photo: bytes | RGBImage,
        *,
        consent_purpose: str,
        reach: str | None = None,
    ) -> httpx.Response:
        """POST /v1/enrolments, retaken on a liveness refusal: the last response."""
        missing = [name for name in CARD_FIELDS if name not in card]
        if missing:
            raise InvalidInput(f"the ID card data lacks {', '.join(missing)}")
        photo = (
            base64.b64encode(chip_photo).decode("ascii")
            if isinstance(chip_photo, bytes)
            else encode_image(chip_photo)
        )

        def once(attempt: int) -> httpx.Response:
            body = {
                "id_card": {name: card[name] for name in CARD_FIELDS},
                "chip_photo": photo,
                "capture": self.capture(attempt),
                "consent": {
                    "purpose": consent_purpose,
                    "scope": "the whole region" if reach == "region" else "this site",
                    "given_at": datetime.now(UTC).isoformat(),
                    **({"reach": reach} if reach else {}),
                },
            }
            return self.session.request("POST", "/v1/enrolments", body)

        return self._retaking(once)[0]

    def pay(
        self,
        bill_id: str,
        *,
        second_factor: Callable[[], str] | None = None,
        idempotency_key: str | None = None,
    ) -> Payment:
        """Identify the patient, show what they will pay, and pay the bill (once per key)."""
        found, spent, retakes = self.identify()
        if found["decision"] == "no_match":
            raise KioskRefused(
                201, "no_match", "no enrolled patient matched: pay with the ID card at the window"
            )
        if found["needs_second_factor"]:
            digits = self._second_factor(second_factor)
            response = self.session.request(
                "POST",
                f"/v1/identifications/{found['identification_id']}/second-factor",
                {"last4": digits},
            )
            found = self._expect(response, 200)
            spent += server_ms(response)
            self.say(f"second factor accepted: {found['decision']}")
        key = idempotency_key or f"pay-{secrets.token_hex(8)}"
        body: dict[str, Any] = {"identification_id": found["identification_id"]}
        response = self.session.request("POST", f"/v1/bills/{bill_id}/presettlement")
        if idempotency_key and response.status_code == 409 and _code(response) == "bill_paid":
            # A repeat of a payment whose answer was lost: the key returns its receipt.
            self.say(f"bill {bill_id} is paid already: asking for the receipt of {key}")
            presettled: dict[str, Any] = {"split": None, "second_factor_required": False}
        else:
            presettled = self._expect(response, 200)
            split = presettled["split"]
            self.say(
                f"bill {bill_id}: insurance {split['fund_pay_sumamt']} fen, personal account "
                f"{split['acct_pay']} fen, cash {split['psn_cash_pay']} fen"
            )
        if presettled["second_factor_required"]:
            body["second_factor"] = self._second_factor(second_factor)
        self.say(f"paying with Idempotency-Key {key} (give it again to repeat this payment)")
        response = self.session.request(
            "POST", f"/v1/bills/{bill_id}/payments", body, headers={"Idempotency-Key": key}
        )
        receipt = self._expect(response, 201)
        spent += server_ms(response)
        replayed = " (a repeat: nothing was charged again)" if receipt.get("replayed") else ""
        self.say(f"paid: settlement {receipt['settlement_id']}{replayed}")
        if presettled["split"] is None:
            presettled = {"split": receipt["split"], "second_factor_required": False}
        return Payment(found, presettled, receipt, key, spent, retakes)

    def _second_factor(self, ask: Callable[[], str] | None) -> str:
        if ask is None:
            raise InvalidInput("this payment needs the last four digits of the patient's phone")
        return ask()

    def _retaking(self, send: Callable[[int], httpx.Response]) -> tuple[httpx.Response, int]:
        response = send(0)
        for attempt in range(1, self.attempts):
            if response.status_code != 422 or _code(response) not in RETAKES:
                return response, attempt - 1
            self.say(f"liveness: {_message(response)} - filming again")
            response = send(attempt)
        return response, self.attempts - 1

    def _expect(self, response: httpx.Response, status: int) -> dict[str, Any]:
        if response.status_code != status:
            raise KioskRefused(response.status_code, _code(response), _message(response))
        body: dict[str, Any] = response.json()
        return body


def load_card(path: Path) -> dict[str, Any]:
    """ID card data as the card reader gives it: a JSON object with id_number, name, sex and
    birth_date (YYYY-MM-DD)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read the ID card file {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{path} is not JSON: {error.msg}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} must hold a JSON object with {', '.join(CARD_FIELDS)}")
    return data


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("code", "http_error"))
    except ValueError:
        return "http_error"


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    text = str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")
    if body.get("decision_id"):
        text += f" [staff: GET /v1/liveness/decisions/{body['decision_id']} says why]"
    return text
