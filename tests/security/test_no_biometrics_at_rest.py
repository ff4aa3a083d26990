"""No image bytes or raw embeddings reach the database file, the logs or the data folder: only
sealed (AES-GCM) templates. The scan looks for image signatures (raw and base64), 128-value unit
vectors of float32/float64 at any byte offset, and unmasked ID numbers in the logs."""

from __future__ import annotations

import base64
import io
import itertools
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import structlog

from facepay.api.logging import configure_logging
from facepay.demo.captures import capture_body, challenge_of, encode_image, live_capture
from facepay.demo.world import make_site
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import subjects_from_photo

IMAGE_MARKERS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"iVBORw0KGgo", b"/9j/", b"RIFF")
ALLOWED = {"template.key", "gallery.sealed"}


def unit_vectors(data: bytes, *, dim: int = 128) -> list[int]:
    """Byte offsets where `dim` consecutive floats form a unit vector (an embedding)."""
    found: list[int] = []
    for dtype, size in (("<f4", 4), ("<f8", 8)):
        for offset in range(size):
            usable = (len(data) - offset) // size * size
            if usable < dim * size:
                continue
            raw = np.frombuffer(data[offset : offset + usable], dtype=dtype)
            with np.errstate(invalid="ignore", over="ignore"):
                values = np.where(np.isfinite(raw), raw, 0.0).astype(np.float64)
                plausible = (np.abs(values) < 0.6) & (np.abs(values) > 1e-4)
            counts = np.convolve(plausible.astype(np.int32), np.ones(dim, np.int32), "valid")
            squares = np.concatenate([[0.0], np.cumsum(np.where(plausible, values, 0.0) ** 2)])
            starts = np.flatnonzero(counts == dim)
            norms = np.sqrt(squares[starts + dim] - squares[starts])
            found += [offset + int(i) * size for i in starts[np.abs(norms - 1.0) < 0.05]]
    return found


def database_rows(url: str) -> bytes:
    """Every value of every table, bytes as stored and the rest as text (for PostgreSQL, whose
    files are not under the data folder)."""
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        out = bytearray()
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    for value in row:
                        is_binary = isinstance(value, bytes | memoryview)
                        out += bytes(value) if is_binary else str(value).encode()
                        out += b"\x00"
        return bytes(out)
    finally:
        engine.dispose()


def scan(data: bytes, where: str) -> None:
    """No image signature and no embedding-like run of floats in `data`."""
    for marker in IMAGE_MARKERS:
        assert marker not in data, f"{marker!r} in {where}"
    assert not unit_vectors(data), f"embedding-like floats in {where}"


def test_the_detector_finds_a_planted_embedding() -> None:
    rng = np.random.default_rng(1)
    vector = rng.normal(size=128)
    vector /= np.linalg.norm(vector)
    for dtype in ("<f4", "<f8"):
        blob = b"header" + vector.astype(dtype).tobytes() + b"trailer"
        assert unit_vectors(blob), dtype
    assert not unit_vectors(rng.bytes(4096))


@pytest.fixture(scope="module")
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(stream=stream)
    yield stream
    structlog.reset_defaults()


def test_nothing_biometric_reaches_disk_or_logs(
    api, face_engine, images_dir: Path, log_stream: io.StringIO
) -> None:
    site = make_site(api.http, api.operator, serial=42)
    subject = subjects_from_photo(face_engine, load_image(images_dir / "obama2.jpg"), "o", "o")[0]
    card = {k: site.person[k] for k in ("id_number", "name", "sex", "birth_date")}
    enrolled = None
    for seed in itertools.count(1):
        challenge = challenge_of(site.kiosk.request("POST", "/v1/liveness/challenges").json())
        body = {
            "id_card": card,
            "chip_photo": encode_image(load_image(images_dir / "obama.jpg")),
            "capture": capture_body(live_capture(subject, challenge, seed=seed)),
            "consent": {"purpose": "pay", "scope": "here",
                        "given_at": datetime.now(UTC).isoformat()},
        }  # fmt: skip
        enrolled = site.kiosk.request("POST", "/v1/enrolments", body)
        if enrolled.status_code == 201 or seed == 3:
            break
    assert enrolled is not None
    assert enrolled.status_code == 201, enrolled.text
    challenge = challenge_of(site.kiosk.request("POST", "/v1/liveness/challenges").json())
    capture = capture_body(live_capture(subject, challenge, seed=99))
    assert site.kiosk.request("POST", "/v1/identifications", {"capture": capture}).status_code in (
        201,
        422,
    )
    # A refused request whose body is full of image bytes and an ID number.
    bad = {"capture": {**capture, "frames": capture["frames"][:2]}, "id_number": card["id_number"]}
    assert site.kiosk.request("POST", "/v1/identifications", bad).status_code == 422

    # Everything the server wrote under its data folder (SQLite + WAL, gallery, key), and on
    # PostgreSQL every stored value (sealed templates are opaque AES-GCM bytes, so they pass).
    settings = api.services.settings
    files = [p for p in api.data_dir.rglob("*") if p.is_file()]
    if settings.database_url is None:
        assert any(p.suffix == ".sqlite" for p in files)
    else:
        scan(database_rows(settings.resolved_database_url()), "the PostgreSQL database")
    for path in files:
        if path.name not in ALLOWED:
            scan(path.read_bytes(), path.name)

    logs = log_stream.getvalue()
    assert "http_request" in logs
    assert card["id_number"] not in logs
    assert not any(m.decode("latin-1") in logs for m in IMAGE_MARKERS[2:4])
    assert base64.b64encode(b"\x89PNG").decode()[:6] not in logs
