"""Base64 images and captures from request bodies, every limit checked before any pixel decoding.

A capture is read in two passes. The first decodes only each frame's base64 and image header: the
frame count, each image's declared size, the pixels the whole capture declares (what decoding
would cost) and the pixels it would keep once each frame is scaled down to the detector's
working size are all checked against their limits, so a body of a few hundred kilobytes that
declares gigabytes of pixels is refused with nothing decoded. Only then are the frames decoded,
one at a time, each scaled down as it is decoded.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from facepay.api.schemas import CaptureCreate, FrameCreate
from facepay.shared.errors import ImageRejected, InvalidInput
from facepay.vision.image import decode_image, image_size, scaled_size
from facepay.vision.liveness import Capture, Frame, TerminalCapabilities


@dataclass(frozen=True)
class CaptureLimits:
    """What one capture may ask of the server (facepay.config.Settings.api_*)."""

    max_frames: int
    max_image_pixels: int
    """Per frame, as its header declares it."""
    max_source_pixels: int
    """All frames together, as declared: bounds the work of decoding."""
    max_kept_pixels: int
    """All frames together, once scaled to `max_side`: bounds the memory they hold."""
    max_side: int
    """Frames are scaled so that their longer side is at most this (the detector's size)."""


def image_bytes(text: str, *, what: str) -> bytes:
    """The bytes of a standard-base64 image (a `data:` prefix is tolerated)."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what}: not valid base64", code="bad_base64") from None


def check_capture(body: CaptureCreate, limits: CaptureLimits) -> None:
    """Refuse a capture that breaks a limit, reading only base64 and image headers."""
    if len(body.frames) > limits.max_frames:
        raise InvalidInput(
            f"a capture has at most {limits.max_frames} frames, got {len(body.frames)}",
            code="too_many_frames",
        )
    source = kept = 0
    for index, frame in enumerate(body.frames):
        width, height = _size(frame, index, limits.max_image_pixels)
        scaled = scaled_size(width, height, limits.max_side)
        source += width * height
        kept += scaled[0] * scaled[1]
        if source > limits.max_source_pixels or kept > limits.max_kept_pixels:
            raise InvalidInput(
                f"the capture's frames hold too many pixels (at most {limits.max_source_pixels:,}"
                f" as sent, {limits.max_kept_pixels:,} at {limits.max_side} px): send fewer or "
                "smaller frames",
                code="capture_too_large",
            )


def capture_from(body: CaptureCreate, limits: CaptureLimits) -> Capture:
    """Check the limits (`check_capture`), then decode every frame, scaled, into a Capture."""
    check_capture(body, limits)
    return Capture(
        frames=tuple(_frame(f, i, limits) for i, f in enumerate(body.frames)),
        capabilities=TerminalCapabilities(),
        started_at=body.started_at,
        challenge_nonce=body.challenge_nonce,
    )


def _size(frame: FrameCreate, index: int, max_pixels: int) -> tuple[int, int]:
    try:
        return image_size(image_bytes(frame.image, what=f"frame {index}"), max_pixels=max_pixels)
    except ImageRejected as error:
        raise ImageRejected(f"frame {index}: {error.message}") from None


def _frame(frame: FrameCreate, index: int, limits: CaptureLimits) -> Frame:
    data = image_bytes(frame.image, what=f"frame {index}")
    try:
        rgb = decode_image(data, max_pixels=limits.max_image_pixels, max_side=limits.max_side)
    except ImageRejected as error:
        raise ImageRejected(f"frame {index}: {error.message}") from None
    return Frame(t=frame.t, rgb=rgb)


def checked_photo(text: str, *, max_pixels: int, what: str) -> bytes:
    """Image bytes whose header is within the limits (not decoded here: the use case decodes
    the chip photo once, itself)."""
    data = image_bytes(text, what=what)
    try:
        image_size(data, max_pixels=max_pixels)
    except ImageRejected as error:
        raise ImageRejected(f"{what}: {error.message}") from None
    return data
