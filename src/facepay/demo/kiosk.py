"""What a kiosk does for a patient, over HTTP: ask for a challenge, film the (synthetic) patient
answering it, and send the capture to enrol or identify - retaking a capture that liveness
refuses, as a kiosk asks the patient to try again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from facepay.demo.captures import capture_json, challenge_of, encode_image, live_capture
from facepay.demo.client import TerminalSession
from facepay.vision.liveness.synth.bona_fide import Subject
from facepay.vision.types import RGBImage

RETAKES = ("liveness_retry", "liveness_spoof")
"""Refusals a synthetic bona fide capture sometimes gets (the liveness suite measures how often):
the kiosk takes the capture again."""


def live_capture_body(kiosk: TerminalSession, subject: Subject, *, seed: int) -> dict[str, Any]:
    """A fresh challenge from the server, answered by `subject` in front of the camera."""
    challenge = kiosk.request("POST", "/v1/liveness/challenges")
    challenge.raise_for_status()
    return capture_json(live_capture(subject, challenge_of(challenge.json()), seed=seed))


def retaking(send: Callable[[int], httpx.Response], *, attempts: int = 3) -> httpx.Response:
    """`send(attempt)` until it is not a liveness refusal, at most `attempts` times."""
    response = send(0)
    for attempt in range(1, attempts):
        code = response.json().get("code") if response.status_code == 422 else None
        if code not in RETAKES:
            break
        response = send(attempt)
    return response


def identify(
    kiosk: TerminalSession, subject: Subject, *, seed: int, attempts: int = 3
) -> httpx.Response:
    """Identify the patient in front of the kiosk by face."""
    return retaking(
        lambda n: kiosk.request(
            "POST",
            "/v1/identifications",
            {"capture": live_capture_body(kiosk, subject, seed=seed * 10 + n)},
        ),
        attempts=attempts,
    )


def enrol(
    kiosk: TerminalSession,
    card: dict[str, Any],
    chip_photo: RGBImage,
    subject: Subject,
    *,
    seed: int,
    attempts: int = 3,
) -> httpx.Response:
    """Enrol the patient: ID card data and chip photo, a live capture, the biometric consent."""

    def once(n: int) -> httpx.Response:
        body = {
            "id_card": {k: card[k] for k in ("id_number", "name", "sex", "birth_date")},
            "chip_photo": encode_image(chip_photo),
            "capture": live_capture_body(kiosk, subject, seed=seed * 10 + n),
            "consent": {"purpose": "pay bills by face", "scope": "this hospital",
                        "given_at": datetime.now(UTC).isoformat()},
        }  # fmt: skip
        return kiosk.request("POST", "/v1/enrolments", body)

    return retaking(once, attempts=attempts)
