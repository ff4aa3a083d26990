"""No request, whatever its body, raises the memory of a real `facepay serve` by more than 64 MB.

Before, a signed identification of 60 frames, each a 2000x2000 single-colour PNG of a few KB
(a body of ~300 KB), took the server from ~300 MB to ~1 GB before it was refused, and four at
once reached 3 GB. The server now checks the challenge and every cheap precondition before it
decodes a frame, bounds the pixels of a whole capture, and decodes each frame downscaled.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from tests.e2e.conftest import Served

from facepay.demo.process import ServerProcess
from facepay.demo.world import Site

pytestmark = pytest.mark.slow
LIMIT_KIB = 64 * 1024


def _png(side: int, colour: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (colour, colour, colour)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _capture(nonce: str | None, frames: int, side: int) -> dict[str, object]:
    frame = _png(side, 128)
    return {
        "capture": {
            "challenge_nonce": nonce,
            "started_at": datetime.now(UTC).isoformat(),
            "frames": [{"t": 0.1 * i, "image": frame} for i in range(frames)],
        }
    }


def _nonce(site: Site) -> str:
    challenge = site.kiosk.request("POST", "/v1/liveness/challenges")
    assert challenge.status_code == 201, challenge.text
    nonce: str = challenge.json()["nonce"]
    return nonce


def _growth(server: ServerProcess, send: object) -> tuple[int, int]:
    """(peak, lasting) growth of the server's RSS in KiB while `send()` runs; lasting is the
    lowest it comes back to within 2 s of the last response (the request's memory is freed
    after its response is sent)."""
    before = server.rss_kib()
    assert server.reset_peak(), "cannot reset the peak RSS of the server process"
    assert callable(send)
    send()
    peak = server.peak_rss_kib() - before
    lasting = server.rss_kib() - before
    for _ in range(20):
        if lasting <= 0:
            break
        time.sleep(0.1)
        lasting = min(lasting, server.rss_kib() - before)
    print(f"RSS {before / 1024:.0f} MiB; peak +{peak / 1024:.1f} MiB, after +{lasting / 1024:.1f}")
    return peak, lasting


def test_sixty_huge_single_colour_frames_are_refused_cheaply(
    served: Served,
) -> None:
    server, site = served.server, served.site
    statuses: list[int] = []

    def send() -> None:
        body = _capture(_nonce(site), frames=60, side=2000)
        statuses.append(site.kiosk.request("POST", "/v1/identifications", body).status_code)

    peak, lasting = _growth(server, send)
    assert statuses == [422]
    assert peak <= LIMIT_KIB, f"peak RSS grew by {peak / 1024:.0f} MiB"
    assert lasting <= LIMIT_KIB, f"RSS stayed {lasting / 1024:.0f} MiB higher"


def test_four_such_requests_at_once_stay_bounded(served: Served) -> None:
    server, site = served.server, served.site
    bodies = [_capture(_nonce(site), frames=60, side=2000) for _ in range(4)]
    statuses: list[int] = []

    def send() -> None:
        def one(body: dict[str, object]) -> None:
            statuses.append(site.kiosk.request("POST", "/v1/identifications", body).status_code)

        threads = [threading.Thread(target=one, args=(b,)) for b in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    peak, lasting = _growth(server, send)
    assert statuses == [422] * 4
    assert peak <= 2 * LIMIT_KIB, f"peak RSS grew by {peak / 1024:.0f} MiB"
    assert lasting <= LIMIT_KIB, f"RSS stayed {lasting / 1024:.0f} MiB higher"


def _noise_jpeg(seed: int, quality: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_the_largest_body_the_server_takes_stays_within_the_bound(
    served: Served,
) -> None:
    server, site = served.server, served.site
    # 32 camera-sized frames (all the capture limits keep) that do not compress, at the JPEG
    # quality that makes them fill the body limit (8 MiB): the server decodes every one of them
    # and runs liveness on them.
    count = 32
    for quality in (95, 90, 85, 80, 75, 70, 60, 50):
        frames = [_noise_jpeg(seed, quality) for seed in range(4)]
        if count * (len(frames[0]) + 40) < 8 * 1024 * 1024 - 4096:
            break
    statuses: list[int] = []

    def send() -> None:
        body = {
            "capture": {
                "challenge_nonce": _nonce(site),
                "started_at": datetime.now(UTC).isoformat(),
                "frames": [{"t": 0.1 * i, "image": frames[i % 4]} for i in range(count)],
            }
        }
        statuses.append(site.kiosk.request("POST", "/v1/identifications", body).status_code)

    peak, lasting = _growth(server, send)
    assert statuses == [422]  # no face in noise: liveness asks for a retry
    assert peak <= LIMIT_KIB, f"peak RSS grew by {peak / 1024:.0f} MiB"
    assert lasting <= LIMIT_KIB, f"RSS stayed {lasting / 1024:.0f} MiB higher"


def test_deeply_nested_json_is_a_clear_error(served: Served) -> None:
    site = served.site
    body = b"[" * 200_000 + b"]" * 200_000
    headers = site.kiosk.signed_headers("POST", "/v1/identifications", body)
    response = site.kiosk.http.post(
        "/v1/identifications",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    assert json.loads(response.text)["type"].startswith("urn:facepay:problem:")


def test_the_server_is_still_healthy(served: Served) -> None:
    server = served.server
    assert server.process.poll() is None
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert Path(f"/proc/{server.pid}/status").exists()
