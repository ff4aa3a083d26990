"""Head pose from landmarks projected from the generic 3D face at known angles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facepay.vision.fake_engine import frontal_landmarks
from facepay.vision.pose import GENERIC_FACE_3D, PITCH_OFFSET_DEG, POSE_LANDMARKS, estimate_pose
from facepay.vision.quality import assess_face
from facepay.vision.types import BoundingBox, Face

SIZE = (480, 640)
BOX = BoundingBox(left=220, top=140, right=420, bottom=340)


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _landmarks(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """A frontal 68-point layout whose six pose points are the rotated model's projection."""
    height, width = SIZE
    rotation = np.diag([1.0, -1.0, -1.0]) @ _rotation(yaw, pitch + PITCH_OFFSET_DEG, roll)
    camera = GENERIC_FACE_3D @ rotation.T + np.array([0.0, 0.0, 600.0])
    projected = camera[:, :2] / camera[:, 2:] * width + np.array([width / 2, height / 2])
    points = frontal_landmarks(BOX)
    points[list(POSE_LANDMARKS)] = projected
    return points


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"),
    [(0, 0, 0), (20, 0, 0), (-35, 0, 0), (0, 20, 0), (0, -30, 0), (0, 0, 15), (15, -10, -20)],
)
def test_known_angles_are_recovered(yaw: float, pitch: float, roll: float) -> None:
    pose = estimate_pose(_landmarks(yaw, pitch, roll), SIZE)
    assert pose.yaw == pytest.approx(yaw, abs=1.0)
    assert pose.pitch == pytest.approx(pitch, abs=1.0)
    assert pose.roll == pytest.approx(roll, abs=1.0)


def test_nodding_far_is_pose_pitch_and_turning_far_is_pose_yaw() -> None:
    frame = np.full((*SIZE, 3), 128, dtype=np.uint8)
    nod = Face(box=BOX, score=1.0, landmarks=_landmarks(0, 35, 0))
    turn = Face(box=BOX, score=1.0, landmarks=_landmarks(40, 0, 0))
    assert "pose_pitch" in assess_face(frame, nod).reasons
    assert "pose_yaw" not in assess_face(frame, nod).reasons
    assert "pose_yaw" in assess_face(frame, turn).reasons
    assert "pose_pitch" not in assess_face(frame, turn).reasons
