"""The fake engine, verification and multi-frame templates: logic around the FaceEngine port."""

from __future__ import annotations

import numpy as np
import pytest

from facepay.shared.errors import InvalidInput
from facepay.vision.engine import FaceEngine
from facepay.vision.fake_engine import FakeFaceEngine, identity_vector
from facepay.vision.pose import estimate_pose
from facepay.vision.types import BoundingBox
from facepay.vision.verification import NoFaceFound, build_template, probe, verify

FRAME = np.full((480, 640, 3), 128, dtype=np.uint8)
BIG = BoundingBox(left=220, top=120, right=420, bottom=320)
SMALL = BoundingBox(left=20, top=20, right=120, bottom=120)


def test_fake_is_a_face_engine() -> None:
    engine: FaceEngine = FakeFaceEngine()
    assert (engine.model_version, engine.embedding_dim) == ("fake-v1", 128)


def test_fake_detects_what_it_is_shown_largest_first_and_clipped() -> None:
    engine = FakeFaceEngine([(SMALL, "bob"), (BIG, "alice")])
    faces = engine.detect(FRAME)
    assert [f.box for f in faces] == [BIG, SMALL]
    engine.show([(BoundingBox(left=600, top=400, right=700, bottom=520), "carol")])
    (clipped,) = engine.detect(FRAME)
    assert (clipped.box.right, clipped.box.bottom) == (640, 480)
    engine.show([])
    assert engine.detect(FRAME) == []


def test_fake_landmarks_read_as_a_frontal_pose() -> None:
    (face,) = FakeFaceEngine([(BIG, "alice")]).detect(FRAME)
    pose = estimate_pose(face.landmarks, (480, 640))
    assert abs(pose.yaw) < 5
    assert abs(pose.pitch) < 5
    assert abs(pose.roll) < 5


def test_fake_embeds_by_identity() -> None:
    engine = FakeFaceEngine([(BIG, "alice"), (SMALL, "bob")])
    big, small = engine.detect(FRAME)
    alice, bob = engine.embed(FRAME, big), engine.embed(FRAME, small)
    assert np.allclose(alice, identity_vector("alice"))
    assert alice.dtype == np.float32
    assert abs(float(np.linalg.norm(alice)) - 1.0) < 1e-6
    assert verify(alice, bob, threshold=0.9, model="fake-v1").match is False
    result = verify(alice, identity_vector("alice"), threshold=0.9, model="fake-v1")
    assert result.match
    assert result.score == pytest.approx(1.0, abs=1e-6)


def test_probe_takes_the_largest_face_and_judges_the_frame() -> None:
    engine = FakeFaceEngine([(BIG, "alice"), (SMALL, "bob")])
    found = probe(engine, FRAME)
    assert found.face.box == BIG
    assert np.allclose(found.embedding, identity_vector("alice"))
    # SMALL is half BIG's width: not a rival, but the flat grey frame has no sharp face.
    assert "multiple_faces" not in found.quality.reasons
    assert "blurred" in found.quality.reasons


def test_probe_without_a_face_raises_no_face() -> None:
    with pytest.raises(NoFaceFound) as raised:
        probe(FakeFaceEngine(), FRAME)
    assert raised.value.code == "no_face"


def test_template_is_the_renormalised_mean() -> None:
    a, b = identity_vector("a"), identity_vector("b")
    template = build_template([a, b, a])
    expected = (2 * a.astype(np.float64) + b) / np.linalg.norm(2 * a.astype(np.float64) + b)
    assert np.allclose(template, expected, atol=1e-6)
    assert template.dtype == np.float32
    assert np.allclose(build_template([a]), a)


def test_template_refuses_nonsense() -> None:
    a = identity_vector("a")
    with pytest.raises(InvalidInput, match="at least one"):
        build_template([])
    with pytest.raises(InvalidInput, match="cancel out"):
        build_template([a, -a])
    with pytest.raises(InvalidInput, match="zero vector"):
        build_template([a, np.zeros(128, dtype=np.float32)])


def test_verify_refuses_mixed_shapes() -> None:
    with pytest.raises(InvalidInput, match="different shapes"):
        verify(identity_vector("a"), identity_vector("a", 64), threshold=0.9, model="x")
