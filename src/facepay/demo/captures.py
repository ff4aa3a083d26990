"""Synthetic camera captures from real photos, in the JSON form the API takes.

The frames are rendered by `facepay.vision.liveness.synth` (a real photo brought to life, or a
printed copy of it held up to the camera) for the challenge the server issued.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from facepay.terminal.capture import RGB_ONLY, capture_body, challenge_of, encode_image
from facepay.vision.liveness import Capture, Challenge
from facepay.vision.liveness.synth.attacks import printed_photo
from facepay.vision.liveness.synth.bona_fide import Subject, bona_fide_capture

__all__ = ["capture_body", "challenge_of", "encode_image", "live_capture", "photo_attack"]


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
