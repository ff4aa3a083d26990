"""The measurements behind the depth, texture and model checks, on synthetic arrays."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pytest

from facepay.shared.errors import InvalidInput
from facepay.vision.fake_engine import frontal_landmarks
from facepay.vision.liveness.capture import Capture, Frame, TerminalCapabilities
from facepay.vision.liveness.checks.base import Evidence
from facepay.vision.liveness.checks.depth import relief_measures
from facepay.vision.liveness.checks.model import OnnxPadModel, PadModelCheck
from facepay.vision.liveness.checks.texture import spectral_peak
from facepay.vision.liveness.synth.face3d import face_relief
from facepay.vision.liveness.tracks import FaceTrack, TrackedFrame
from facepay.vision.types import BoundingBox, Face, RGBImage

BOX = BoundingBox(60, 50, 200, 210)
LANDMARKS = frontal_landmarks(BOX)


def test_a_generic_face_has_nose_relief_a_sheet_does_not() -> None:
    face = 450.0 - face_relief(LANDMARKS, (260, 260), px_per_mm=1.0)
    measured = relief_measures(face, LANDMARKS)
    assert 15.0 <= measured["relief_mm"] <= 40.0
    assert measured["quadric_rms_mm"] >= 1.5
    xs = np.linspace(-1, 1, 260, dtype=np.float32)[None, :].repeat(260, axis=0)
    for sheet in (np.full((260, 260), 420.0, np.float32), 420.0 - 12.0 * (1 - xs * xs)):
        flat = relief_measures(sheet, LANDMARKS)
        assert abs(flat["relief_mm"]) < 5.0
        assert flat["quadric_rms_mm"] < 0.5


def test_a_pixel_grid_leaves_a_spectral_peak() -> None:
    rng = np.random.default_rng(5)
    ys, xs = np.mgrid[0:260, 0:260].astype(np.float32)
    skin = 150 + 30 * np.sin(xs / 40) + 20 * np.cos(ys / 55) + rng.normal(0, 2, (260, 260))
    plain: RGBImage = np.clip(np.dstack([skin, skin * 0.8, skin * 0.7]), 0, 255).astype(np.uint8)
    grid = 1 - 0.2 * (0.5 + 0.5 * np.cos(2 * math.pi * xs / 3.1))
    screen: RGBImage = np.clip(plain * grid[..., None], 0, 255).astype(np.uint8)
    assert spectral_peak(plain, BOX) < 3.0 <= spectral_peak(screen, BOX)


def _evidence() -> Evidence:
    rgb = np.zeros((260, 260, 3), dtype=np.uint8)
    capture = Capture((Frame(0.0, rgb),), TerminalCapabilities(), datetime(2026, 1, 1, tzinfo=UTC))
    track = FaceTrack((TrackedFrame(0, 0.0, Face(BOX, 1.0, LANDMARKS)),))
    return Evidence(capture=capture, track=track, engine=cast(Any, None))


class Constant:
    """A stand-in PAD model that always says the same thing."""

    def __init__(self, value: float) -> None:
        self.value = value

    def live_probability(self, image: RGBImage, face: Face) -> float:
        return self.value


def test_the_model_check_is_optional_and_votes_when_configured() -> None:
    absent = PadModelCheck(None).run(_evidence())
    assert not absent.applicable
    assert "not configured" in absent.reason
    assert PadModelCheck(Constant(0.9)).run(_evidence()).passed
    assert not PadModelCheck(Constant(0.1)).run(_evidence()).passed


def test_onnx_model_explains_what_is_missing(tmp_path: Any) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        OnnxPadModel(tmp_path / "absent.onnx")
    weights = tmp_path / "pad.onnx"
    weights.write_bytes(b"\x08\x07")
    with pytest.raises(InvalidInput, match="onnxruntime is not installed"):
        OnnxPadModel(weights)
