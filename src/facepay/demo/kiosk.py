"""What a kiosk does for a (synthetic) patient, over HTTP: `facepay.terminal.kiosk.Kiosk` with a
synthetic camera, returning the server's last response as the demo and the tests check it."""

from __future__ import annotations

from typing import Any

import httpx

from facepay.client import TerminalSession
from facepay.terminal.capture import SubjectSource
from facepay.terminal.kiosk import RETAKES, Kiosk
from facepay.vision.liveness.synth.bona_fide import Subject
from facepay.vision.types import RGBImage

__all__ = ["RETAKES", "enrol", "identify"]
CONSENT = "pay bills by face"


def identify(
    kiosk: TerminalSession, subject: Subject, *, seed: int, attempts: int = 3
) -> httpx.Response:
    """Identify the patient in front of the kiosk by face."""
    machine = Kiosk(kiosk, SubjectSource(subject, seed), attempts=attempts)
    return machine.identification_response()[0]


def enrol(
    kiosk: TerminalSession,
    card: dict[str, Any],
    chip_photo: RGBImage,
    subject: Subject,
    *,
    seed: int,
    attempts: int = 3,
    reach: str | None = None,
) -> httpx.Response:
    """Enrol the patient: ID card data and chip photo, a live capture, the biometric consent."""
    machine = Kiosk(kiosk, SubjectSource(subject, seed), attempts=attempts)
    return machine.enrolment_response(card, chip_photo, consent_purpose=CONSENT, reach=reach)
