"""Head pose (yaw, pitch, roll in degrees) from 68 landmarks, by solvePnP on a generic 3D face.

The 3D points are the widely used generic head model (millimetres, nose tip at the origin, x to
the subject's left, y up, z towards the camera). The camera is assumed pinhole with focal length
equal to the image width and the principal point at the centre, which is accurate enough for
gating pose (±5°) on kiosk and phone cameras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from facepay.vision.types import Landmarks

# iBUG-68 indices: nose tip, chin, left eye outer corner, right eye outer corner, mouth corners.
POSE_LANDMARKS = (30, 8, 36, 45, 48, 54)
GENERIC_FACE_3D = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.0, -63.6, -12.5),
        (-43.3, 32.7, -26.0),
        (43.3, 32.7, -26.0),
        (-28.9, -28.9, -24.1),
        (28.9, -28.9, -24.1),
    ],
    dtype=np.float64,
)


@dataclass(frozen=True, slots=True)
class HeadPose:
    """Rotation of the head relative to facing the camera, in degrees.

    yaw > 0: the head turns to the image's right; pitch > 0: the chin lifts; roll > 0: the head
    tilts clockwise in the image.
    """

    yaw: float
    pitch: float
    roll: float


def estimate_pose(landmarks: Landmarks, image_size: tuple[int, int]) -> HeadPose:
    """Estimate head pose from 68 landmarks in an image of (height, width) pixels."""
    height, width = image_size
    image_points = np.ascontiguousarray(landmarks[list(POSE_LANDMARKS)], dtype=np.float64)
    camera = np.array(
        [[width, 0.0, width / 2.0], [0.0, width, height / 2.0], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )
    ok, rvec, _ = cv2.solvePnP(
        GENERIC_FACE_3D, image_points, camera, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return HeadPose(yaw=math.nan, pitch=math.nan, roll=math.nan)
    rotation, _ = cv2.Rodrigues(rvec)
    # The model's y axis points up while the image's points down: flip y and z to get the head's
    # rotation in a right-handed camera frame looking along +z.
    flip = np.diag([1.0, -1.0, -1.0])
    r = flip @ rotation
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return HeadPose(yaw=yaw, pitch=_wrap(pitch), roll=roll)


def _wrap(angle: float) -> float:
    """Map an angle to (-180, 180]; solvePnP's frame can leave pitch near ±180 for a level head."""
    while angle > 180.0:
        angle -= 360.0
    while angle <= -180.0:
        angle += 360.0
    if angle > 90.0:
        return angle - 180.0
    if angle < -90.0:
        return angle + 180.0
    return angle
