"""Capture limits are checked from base64 and image headers before any pixel is decoded, frames
come out scaled to the detector's size, and capture requests queue for a bounded number of
places (503 with Retry-After once the wait runs out)."""

from __future__ import annotations

import asyncio
import base64
import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from facepay.api import images
from facepay.api.images import CaptureLimits, capture_from, check_capture
from facepay.api.limits import CaptureAdmission
from facepay.api.schemas import CaptureCreate
from facepay.shared.errors import ImageRejected, InvalidInput
from facepay.vision.image import decode_image

LIMITS = CaptureLimits(
    max_frames=60,
    max_image_pixels=4_000_000,
    max_source_pixels=24_000_000,
    max_kept_pixels=9_830_400,
    max_side=640,
)


def _encoded(width: int, height: int, fmt: str = "PNG") -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(out, format=fmt)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _capture(frames: int, width: int, height: int, fmt: str = "PNG") -> CaptureCreate:
    image = _encoded(width, height, fmt)
    return CaptureCreate(
        challenge_nonce="n" * 16,
        started_at=datetime(2026, 12, 1, tzinfo=UTC),
        frames=[{"t": 0.1 * i, "image": image} for i in range(frames)],  # type: ignore[misc]
    )


def _no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a pixel was decoded")

    monkeypatch.setattr(images, "decode_image", refuse)


def test_sixty_huge_frames_are_refused_from_their_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _capture(60, 2000, 2000)
    _no_decoding(monkeypatch)
    with pytest.raises(InvalidInput) as refused:
        capture_from(body, LIMITS)
    assert refused.value.code == "capture_too_large"


def test_too_many_kept_pixels_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _capture(40, 640, 480)  # 40 VGA frames: 12.3 M pixels kept, 9.8 M allowed
    _no_decoding(monkeypatch)
    with pytest.raises(InvalidInput) as refused:
        check_capture(body, LIMITS)
    assert refused.value.code == "capture_too_large"


def test_one_frame_above_the_pixel_limit_is_refused_with_its_index() -> None:
    body = _capture(1, 2100, 2000)
    with pytest.raises(ImageRejected) as refused:
        check_capture(body, LIMITS)
    assert "frame 0" in refused.value.message


def test_frames_are_decoded_scaled_to_the_detectors_size() -> None:
    capture = capture_from(_capture(6, 1600, 1200), LIMITS)
    assert {frame.rgb.shape for frame in capture.frames} == {(480, 640, 3)}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_decode_scales_every_format(fmt: str) -> None:
    data = base64.b64decode(_encoded(2000, 1000, fmt))
    assert decode_image(data, max_side=640).shape == (320, 640, 3)
    assert decode_image(data).shape == (1000, 2000, 3)


def test_capture_requests_queue_then_get_503_when_no_place_frees() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_app(scope: dict, receive: object, send: object) -> None:
        started.set()
        await release.wait()

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def scenario() -> None:
        gate = CaptureAdmission(
            slow_app, paths=frozenset({"/v1/identifications"}), limit=1, wait_seconds=0.2
        )
        scope = {"type": "http", "path": "/v1/identifications", "method": "POST", "headers": []}
        first = asyncio.create_task(gate(scope, None, send))  # type: ignore[arg-type]
        await started.wait()
        await gate(scope, None, send)  # type: ignore[arg-type]
        release.set()
        await first

    asyncio.run(scenario())
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 503
    assert (b"retry-after", b"1") in start["headers"]
