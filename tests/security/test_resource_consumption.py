"""OWASP API4:2023 unrestricted resource consumption: huge bodies (413), too many frames and
image bombs (422, refused from the header before decoding), and rate limits (429)."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from facepay.demo.world import Site, make_site


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width × height pixels but carries almost no data (a 'bomb' header)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _capture(frames: int, image: str, site: Site | None = None) -> dict:
    """A capture; with `site`, answering a real challenge of its kiosk (the frame checks run
    after the challenge check, so a bogus nonce would be refused first)."""
    nonce = "n" * 22
    if site is not None:
        nonce = site.kiosk.request("POST", "/v1/liveness/challenges").json()["nonce"]
    return {
        "challenge_nonce": nonce,
        "started_at": datetime.now(UTC).isoformat(),
        "frames": [{"t": i * 0.25, "image": image} for i in range(frames)],
    }


def _small_png(images_dir: Path) -> str:
    return _b64((images_dir / "Tom_Hanks_54745.png").read_bytes())


def test_declared_huge_body_is_refused_before_reading(api, site_a: Site) -> None:
    limit = api.services.settings.api_max_body_bytes
    body = b"{" + b" " * limit + b"}"
    headers = site_a.kiosk.signed_headers("POST", "/v1/identifications", body)
    response = api.http.post(
        "/v1/identifications", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["type"] == "urn:facepay:problem:body_too_large"


def test_streamed_huge_body_is_cut_off(api, site_a: Site) -> None:
    limit = api.services.settings.api_max_body_bytes
    headers = site_a.kiosk.signed_headers("POST", "/v1/identifications", b"")

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 65_536 + 2):
            yield b" " * 65_536

    response = api.http.post(
        "/v1/identifications",
        content=chunks(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "body_too_large"


def test_too_many_frames_are_refused(site_a: Site, images_dir: Path, api) -> None:
    limit = api.services.settings.api_max_frames
    body = {"capture": _capture(limit + 1, _small_png(images_dir), site_a)}
    response = site_a.kiosk.request("POST", "/v1/identifications", body)
    assert (response.status_code, response.json()["code"]) == (422, "too_many_frames")


def test_schema_caps_frames_even_above_the_setting(site_a: Site) -> None:
    body = {"capture": _capture(601, "A" * 16)}
    response = site_a.kiosk.request("POST", "/v1/identifications", body)
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


@pytest.mark.parametrize("size", [(20_000, 20_000), (100_000, 1)])
def test_image_bomb_frames_are_refused_from_the_header(site_a: Site, size: tuple) -> None:
    bomb = png_header_only(*size)
    assert len(bomb) < 200
    body = {"capture": _capture(6, _b64(bomb), site_a)}
    response = site_a.kiosk.request("POST", "/v1/identifications", body)
    assert (response.status_code, response.json()["code"]) == (422, "image_rejected")


def test_image_bomb_chip_photo_is_refused(site_a: Site, images_dir: Path) -> None:
    body = {
        "id_card": {k: site_a.person[k] for k in ("id_number", "name", "sex", "birth_date")},
        "chip_photo": _b64(png_header_only(20_000, 20_000)),
        "capture": _capture(6, _small_png(images_dir), site_a),
        "consent": {"purpose": "pay", "scope": "here", "given_at": "2026-03-01T08:00:00+00:00"},
    }
    response = site_a.kiosk.request("POST", "/v1/enrolments", body)
    assert (response.status_code, response.json()["code"]) == (422, "image_rejected")
    assert "too many pixels" in response.json()["detail"]


def test_garbage_images_are_refused(site_a: Site) -> None:
    for image in ("not base64 at all!!!!", _b64(b"GIF89a" + b"\x00" * 64)):
        body = {"capture": _capture(6, image, site_a)}
        response = site_a.kiosk.request("POST", "/v1/identifications", body)
        assert response.status_code == 422, image[:10]
        assert response.json()["code"] in ("bad_base64", "image_rejected")


def test_rate_limit_per_terminal_answers_429(limited_api) -> None:
    site = make_site(limited_api.http, limited_api.operator, serial=1)
    codes = [site.kiosk.request("POST", "/v1/liveness/challenges").status_code for _ in range(5)]
    assert codes[:3] == [201, 201, 201]
    assert codes[3:] == [429, 429]
    limited = site.kiosk.request("POST", "/v1/liveness/challenges")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["type"] == "urn:facepay:problem:rate_limited"


def test_login_attempts_are_rate_limited(limited_api) -> None:
    # A slow refill (one login every 10 s): the burst of 10 is spent whatever the database's
    # speed, so the 11th and 12th attempts are refused.
    http: httpx.Client = limited_api.http
    answers = [
        http.post("/v1/auth/login", json={"username": "ghost", "password": "wrong-password-x"})
        for _ in range(12)
    ]
    codes = [a.status_code for a in answers]
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]


def test_the_challenge_is_checked_before_any_frame(site_a: Site) -> None:
    # A forged nonce with frames that would each cost 12 MB: refused on the nonce, nothing decoded.
    body = {"capture": _capture(60, _b64(png_header_only(2000, 2000)))}
    response = site_a.kiosk.request("POST", "/v1/identifications", body)
    assert (response.status_code, response.json()["code"]) == (422, "liveness_spoof")
