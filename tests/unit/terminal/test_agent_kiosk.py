"""`AgentKiosk` against a fake agent (httpx.MockTransport): one idempotency key per payment
across retakes, a retake after a liveness refusal, the refusals it raises, the notices."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest

from facepay.terminal.agent_kiosk import AgentKiosk
from facepay.terminal.capture import RGB_ONLY
from facepay.terminal.kiosk import KioskRefused
from facepay.vision.liveness import Capture, Challenge
from facepay.vision.liveness.capture import Frame


@dataclass
class Camera:
    """Films two black frames for any challenge; remembers the attempts."""

    label: str = "test camera"
    attempts: list[int] = field(default_factory=list)

    def record(self, challenge: Challenge, prompt: Any, *, attempt: int = 0) -> Capture:
        self.attempts.append(attempt)
        black = np.zeros((8, 8, 3), dtype=np.uint8)
        return Capture(
            frames=(Frame(0.0, black), Frame(0.1, black)),
            capabilities=RGB_ONLY,
            started_at=challenge.issued_at,
            challenge_nonce=challenge.nonce,
        )


@dataclass
class FakeAgent:
    """Answers `POST /payments` from a list of (status, body), in order."""

    answers: list[tuple[int, dict[str, Any]]]
    payments: list[dict[str, Any]] = field(default_factory=list)
    nonces: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/challenges":
            self.nonces += 1
            now = datetime.now(UTC)
            return httpx.Response(201, json={
                "nonce": f"nonce-{self.nonces}", "issued_at": now.isoformat(),
                "expires_at": (now + timedelta(seconds=60)).isoformat(), "mode": "offline",
                "steps": [{"action": "blink", "prompt": "Please blink.", "start": 0.0,
                           "end": 1.0}],
            })  # fmt: skip
        if request.url.path == "/payments":
            self.payments.append(json.loads(request.content))
            status, body = self.answers.pop(0)
            return httpx.Response(status, json=body)
        if request.url.path == "/notices/per_a":
            return httpx.Response(200, json={"person_id": "per_a", "notices": [NOTICE]})
        return httpx.Response(404, json={"detail": "Not Found"})


NOTICE = {"voucher_id": "v1", "kind": "arrears", "amount_fen": 900, "message": "Pay 9.00 yuan.",
          "created_at": "2026-03-01T00:00:00+00:00"}  # fmt: skip
PAID = {"status": "paid", "mode": "offline", "idempotency_key": "k", "bill_id": "bil_1",
        "message": "Paid offline: provisional.", "voucher": {"id": "v2", "counter": 2},
        "split": {"acct_pay": 0}, "cash_collected_fen": 100, "provisional": True,
        "person": {"person_id": "per_a", "display_name": "A*"}, "notices": [NOTICE]}  # fmt: skip


def kiosk(agent: FakeAgent, camera: Camera, said: list[str]) -> AgentKiosk:
    http = httpx.Client(base_url="http://agent", transport=httpx.MockTransport(agent.handler))
    return AgentKiosk(http, camera, say=said.append, attempts=3)


def test_a_liveness_refusal_is_filmed_again_under_the_same_key() -> None:
    refused = {"status": "refused", "code": "liveness_local", "message": "Please blink."}
    agent = FakeAgent([(422, refused), (201, PAID)])
    camera, said = Camera(), []
    paid = kiosk(agent, camera, said).pay("bil_1")
    assert (paid.mode, paid.retakes, paid.person_id) == ("offline", 1, "per_a")
    assert camera.attempts == [0, 1]
    keys = {p["idempotency_key"] for p in agent.payments}
    assert len(keys) == 1
    assert [p["capture"]["challenge_nonce"] for p in agent.payments] == ["nonce-1", "nonce-2"]
    assert any("paid offline: voucher v2 (counter 2)" in line for line in said)
    assert "notice: Pay 9.00 yuan." in said


def test_other_refusals_end_the_payment_with_the_agents_code_and_sentence() -> None:
    staff = "Please pay by card with a member of staff."
    agent = FakeAgent([(422, {"status": "refused", "code": "offline_over_per_payment",
                              "message": staff})])  # fmt: skip
    with pytest.raises(KioskRefused) as refused:
        kiosk(agent, Camera(), []).pay("bil_1", idempotency_key="pay-given-key")
    assert (refused.value.status, refused.value.code) == (422, "offline_over_per_payment")
    assert refused.value.message == staff
    assert agent.payments[0]["idempotency_key"] == "pay-given-key"


def test_an_unconfirmed_payment_names_the_key_to_repeat_it_with() -> None:
    agent = FakeAgent([(503, {"status": "unknown", "code": "payment_outcome_unknown",
                              "idempotency_key": "pay-abc12345",
                              "message": "The payment could not be confirmed."})])  # fmt: skip
    with pytest.raises(KioskRefused) as refused:
        kiosk(agent, Camera(), []).pay("bil_1")
    assert refused.value.status == 503
    assert "--idempotency-key pay-abc12345" in refused.value.message


def test_retakes_stop_at_the_attempts() -> None:
    refused = {"status": "refused", "code": "liveness_retry", "message": "Please try again."}
    agent = FakeAgent([(422, refused)] * 3)
    camera = Camera()
    with pytest.raises(KioskRefused) as stopped:
        kiosk(agent, camera, []).pay("bil_1")
    assert stopped.value.code == "liveness_retry"
    assert camera.attempts == [0, 1, 2]


def test_notices() -> None:
    assert kiosk(FakeAgent([]), Camera(), []).notices("per_a") == [NOTICE]
