"""The log scrubber: no bytes, no images, no embeddings, no unmasked ID numbers."""

from __future__ import annotations

import io
import json

import numpy as np
import structlog

from facepay.api.logging import configure_logging, mask_ids, scrub_event


def test_id_numbers_are_masked_anywhere_in_a_string() -> None:
    assert mask_ids("person 11010119900307451X paid") == "person 110101********451X paid"
    assert mask_ids("order 123456789012345678901") == "order 123456789012345678901"


def test_biometric_fields_and_blobs_are_removed() -> None:
    event = scrub_event(
        None,
        "info",
        {
            "event": "x",
            "chip_photo": "abc",
            "frames": [1, 2],
            "embedding": [0.1] * 128,
            "payload": b"\x89PNG....",
            "scores": [0.5] * 40,
            "note": "A" * 300,
            "array": np.zeros((4, 4)),
        },
    )
    assert "chip_photo" not in event
    assert "frames" not in event
    assert "embedding" not in event
    assert event["payload"] == "<8 bytes>"
    assert event["scores"] == "<40 numbers>"
    assert event["note"] == "<blob>"
    assert event["array"].startswith("<array")


def test_configured_logger_writes_scrubbed_json_lines() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        structlog.get_logger("t").info("enrolled", id_number="110101199003074518", image=b"x")
    finally:
        structlog.reset_defaults()
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "enrolled"
    assert line["id_number"] == "110101********4518"
    assert "image" not in line
