"""Following a face between frames: the same landmarks as a detection, and no face where none is."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np

from facepay.services.face_cache import CachingFaceEngine
from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.engine import FaceFollower
from facepay.vision.fake_engine import FakeFaceEngine
from facepay.vision.liveness.capture import Capture, TerminalCapabilities
from facepay.vision.liveness.challenge import issue_challenge
from facepay.vision.liveness.synth.bona_fide import Subject, bona_fide_capture
from facepay.vision.liveness.tracks import inter_ocular, track_faces
from facepay.vision.types import BoundingBox, Face, RGBImage

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _capture(subject: Subject, seed: int = 3) -> Capture:
    challenge = issue_challenge(now=NOW, rng=random.Random(seed))
    return bona_fide_capture(
        subject,
        challenge=challenge,
        capabilities=TerminalCapabilities(),
        started_at=NOW,
        rng=random.Random(seed),
    )


def test_followed_landmarks_stay_near_detected_ones(
    liveness_engine: DlibFaceEngine, subjects: dict[str, Subject]
) -> None:
    capture = _capture(subjects["obama"])
    previous = liveness_engine.detect(capture.frames[0].rgb)[0]
    for frame in capture.frames[1:]:
        followed = liveness_engine.follow(frame.rgb, previous, confirm=True)
        detected = liveness_engine.detect(frame.rgb)[0]
        assert followed is not None
        error = np.linalg.norm(followed.landmarks - detected.landmarks, axis=1).mean()
        # Within a few percent of the eye distance: HOG's own box jitter moves them as much.
        assert error < 0.08 * inter_ocular(detected.landmarks)
        previous = followed


def test_a_face_that_left_is_not_followed(
    liveness_engine: DlibFaceEngine, subjects: dict[str, Subject]
) -> None:
    frame = _capture(subjects["obama"]).frames[0].rgb
    face = liveness_engine.detect(frame)[0]
    empty = np.full_like(frame, 128)
    assert liveness_engine.follow(empty, face, confirm=True) is None


def test_tracking_detects_the_key_frames_and_follows_between(
    liveness_engine: DlibFaceEngine, subjects: dict[str, Subject]
) -> None:
    capture = _capture(subjects["biden"])
    calls: list[int] = []

    class Counting(CachingFaceEngine):
        def detect(self, image: RGBImage) -> list[Face]:
            calls.append(1)
            return super().detect(image)

    engine = Counting(liveness_engine)
    assert isinstance(engine, FaceFollower)
    track = track_faces(engine, capture)
    assert len(track.good) == len(capture.frames)
    assert 2 <= len(calls) < len(capture.frames) // 2


def test_an_engine_that_cannot_follow_is_detected_every_frame(
    subjects: dict[str, Subject],
) -> None:
    capture = _capture(subjects["obama"])
    fake = FakeFaceEngine([(BoundingBox(100, 80, 220, 200), "obama")])
    assert not isinstance(fake, FaceFollower)
    cached = CachingFaceEngine(fake)
    face = fake.detect(capture.frames[0].rgb)[0]
    assert cached.follow(capture.frames[1].rgb, face) is None
    fake.calls["detect"] = 0
    track_faces(cached, capture)
    assert fake.calls["detect"] == len(capture.frames)
