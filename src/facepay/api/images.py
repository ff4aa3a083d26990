"""Base64 images and captures from request bodies, with limits checked before any pixel decoding."""

from __future__ import annotations

import base64
import binascii

from facepay.api.schemas import CaptureCreate, FrameCreate
from facepay.shared.errors import ImageRejected, InvalidInput
from facepay.vision.image import decode_image
from facepay.vision.liveness import Capture, Frame, TerminalCapabilities


def image_bytes(text: str, *, what: str) -> bytes:
    """The bytes of a standard-base64 image (a `data:` prefix is tolerated)."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what}: not valid base64", code="bad_base64") from None


def capture_from(body: CaptureCreate, *, max_frames: int, max_pixels: int) -> Capture:
    """Decode every frame (each refused above `max_pixels` from its header) into a Capture."""
    if len(body.frames) > max_frames:
        raise InvalidInput(
            f"a capture has at most {max_frames} frames, got {len(body.frames)}",
            code="too_many_frames",
        )
    return Capture(
        frames=tuple(_frame(f, i, max_pixels) for i, f in enumerate(body.frames)),
        capabilities=TerminalCapabilities(),
        started_at=body.started_at,
        challenge_nonce=body.challenge_nonce,
    )


def _frame(frame: FrameCreate, index: int, max_pixels: int) -> Frame:
    data = image_bytes(frame.image, what=f"frame {index}")
    try:
        rgb = decode_image(data, max_pixels=max_pixels)
    except ImageRejected as error:
        raise ImageRejected(f"frame {index}: {error.message}") from None
    return Frame(t=frame.t, rgb=rgb)


def checked_photo(text: str, *, max_pixels: int, what: str) -> bytes:
    """Image bytes that decode within the limits (decoded once here, thrown away)."""
    data = image_bytes(text, what=what)
    try:
        decode_image(data, max_pixels=max_pixels)
    except ImageRejected as error:
        raise ImageRejected(f"{what}: {error.message}") from None
    return data
