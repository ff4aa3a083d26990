"""Synthetic camera captures from real photos, in the JSON form the API takes.

The frames are rendered by `facepay.vision.liveness.synth` (a real photo brought to life, or a
printed copy of it held up to the camera) for the challenge the server issued.
"""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta
from typing import Any

import cv2

from facepay.vision.liveness import Capture, Challenge, TerminalCapabilities
from facepay.vision.liveness.synth.attacks import printed_photo
from facepay.vision.liveness.synth.bona_fide import Subject, bona_fide_capture
from facepay.vision.types import RGBImage

RGB_ONLY = TerminalCapabilities()


def encode_image(rgb: RGBImage, *, fmt: str = ".png") -> str:
    """Base64 of the image encoded as PNG (lossless) or JPEG."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if fmt == ".jpg" else []
    ok, data = cv2.imencode(fmt, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError("cannot encode the frame")
    return base64.b64encode(data.tobytes()).decode("ascii")


def capture_json(capture: Capture, *, fmt: str = ".jpg") -> dict[str, Any]:
    """The `CaptureCreate` body of a capture, its frames JPEG as a kiosk camera sends them."""
    return {
        "challenge_nonce": capture.challenge_nonce,
        "started_at": capture.started_at.isoformat(),
        "frames": [{"t": f.t, "image": encode_image(f.rgb, fmt=fmt)} for f in capture.frames],
    }


def challenge_of(body: dict[str, Any]) -> Challenge:
    """The challenge from a `ChallengeRead` response."""
    steps = [{k: s[k] for k in ("action", "start", "end")} for s in body["steps"]]
    return Challenge.from_json({**body, "steps": steps})


def _start(challenge: Challenge) -> datetime:
    return challenge.issued_at + timedelta(milliseconds=50)


def live_capture(subject: Subject, challenge: Challenge, *, seed: int) -> Capture:
    """The subject answering the challenge in front of an RGB kiosk camera."""
    return bona_fide_capture(
        subject,
        challenge=challenge,
        capabilities=RGB_ONLY,
        started_at=_start(challenge),
        rng=random.Random(seed),  # noqa: S311 - reproducible synthetic frames, not secrets
    )


def photo_attack(subject: Subject, challenge: Challenge, *, seed: int) -> Capture:
    """A printed photo of the subject held still in front of the camera."""
    return printed_photo(
        subject,
        challenge=challenge,
        capabilities=RGB_ONLY,
        started_at=_start(challenge),
        rng=random.Random(seed),  # noqa: S311 - reproducible synthetic frames, not secrets
        moved=False,
    )
