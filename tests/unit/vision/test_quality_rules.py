"""Quality gate rules that need no model: frame-level verdicts with the fake engine's faces."""

from __future__ import annotations

import numpy as np

from facepay.vision.fake_engine import FakeFaceEngine
from facepay.vision.quality import MESSAGES, assess_frame
from facepay.vision.types import BoundingBox

FRAME = np.full((480, 640, 3), 128, dtype=np.uint8)


def test_no_face() -> None:
    report = assess_frame(FRAME, [])
    assert report.reasons == ("no_face",)
    assert not report.ok
    assert report.metrics is None
    assert report.issues[0].message == MESSAGES["no_face"]


def test_two_similar_faces_are_multiple_faces() -> None:
    engine = FakeFaceEngine(
        [
            (BoundingBox(left=40, top=100, right=240, bottom=300), "a"),
            (BoundingBox(left=360, top=100, right=540, bottom=280), "b"),
        ]
    )
    report = assess_frame(FRAME, engine.detect(FRAME))
    assert report.reasons[0] == "multiple_faces"


def test_small_face_is_too_small() -> None:
    engine = FakeFaceEngine([(BoundingBox(left=300, top=200, right=360, bottom=260), "a")])
    report = assess_frame(FRAME, engine.detect(FRAME))
    assert "too_small" in report.reasons
    assert report.metrics is not None
    assert report.metrics.face_px == 60


def test_face_cut_by_the_frame_is_occluded() -> None:
    engine = FakeFaceEngine([(BoundingBox(left=-150, top=100, right=100, bottom=350), "a")])
    report = assess_frame(FRAME, engine.detect(FRAME))
    assert "occluded" in report.reasons


def test_every_reason_has_a_message() -> None:
    assert set(MESSAGES) == {
        "too_small",
        "blurred",
        "too_dark",
        "overexposed",
        "pose_yaw",
        "pose_pitch",
        "multiple_faces",
        "no_face",
        "occluded",
    }
