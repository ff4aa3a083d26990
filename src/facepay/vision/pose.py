"""Head pose (yaw, pitch, roll in degrees) from 68 landmarks, by solvePnP on a generic 3D face.

The 3D points are the widely used generic head model (millimetres, nose tip at the origin, x to
the subject's left, y up, z towards the camera). The camera is assumed pinhole with focal length
equal to the image width and the principal point at the centre, which is accurate enough for
gating pose (±5°) on kiosk and phone cameras.

Two corrections make the numbers usable for gating:

- solvePnP's iterative solver may converge to a mirrored solution (roll ≈ ±170°) on six points;
  it therefore starts from the frontal pose at the distance implied by the eye span, which keeps
  it in the right basin, and roll is reported in (-90, 90].
- dlib's landmarks sit differently on the face than the generic model's points (its nose tip is
  lower relative to the eye corners), which reads a frontal face as chin-up by about 10°;
  `PITCH_OFFSET_DEG` removes that bias. It is the mean pitch measured on frontal sample photos
  (obama.jpg, obama3.jpg, obama2.jpg, Tom Hanks).
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
PITCH_OFFSET_DEG = 10.0
_EYE_SPAN_MM = 86.6


@dataclass(frozen=True, slots=True)
class HeadPose:
    """Rotation of the head relative to facing the camera, in degrees.

    yaw > 0: the head turns to the image's right; pitch > 0: the chin lifts; roll > 0: the head
    tilts clockwise in the image. Roll is in (-90, 90]; NaN everywhere when no pose was found.
    """

    yaw: float
    pitch: float
    roll: float


def estimate_pose(landmarks: Landmarks, image_size: tuple[int, int]) -> HeadPose:
    """Estimate head pose from 68 landmarks in an image of (height, width) pixels."""
    height, width = image_size
    image_points = np.ascontiguousarray(landmarks[list(POSE_LANDMARKS)], dtype=np.float64)
    focal = float(width)
    camera = np.array(
        [[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )
    eye_span_px = max(float(np.linalg.norm(image_points[3] - image_points[2])), 1.0)
    nose = image_points[0]
    depth = focal * _EYE_SPAN_MM / eye_span_px
    # Frontal start: the model's y axis points up and the image's down, i.e. a half turn about x.
    rvec = np.array([[math.pi], [0.0], [0.0]])
    tvec = np.array(
        [
            [(nose[0] - width / 2.0) * depth / focal],
            [(nose[1] - height / 2.0) * depth / focal],
            [depth],
        ]
    )
    ok, rvec, _ = cv2.solvePnP(
        GENERIC_FACE_3D,
        image_points,
        camera,
        np.zeros(4),
        rvec=rvec,
        tvec=tvec,
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok:
        return HeadPose(yaw=math.nan, pitch=math.nan, roll=math.nan)
    rotation, _ = cv2.Rodrigues(rvec)
    # Undo the half turn about x to get the head's rotation relative to facing the camera.
    r = np.diag([1.0, -1.0, -1.0]) @ rotation
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return HeadPose(yaw=yaw, pitch=_half_turn(pitch) - PITCH_OFFSET_DEG, roll=_half_turn(roll))


def _half_turn(angle: float) -> float:
    """Fold an angle into (-90, 90]: a head is never upside down in front of a kiosk."""
    while angle > 90.0:
        angle -= 180.0
    while angle <= -90.0:
        angle += 180.0
    return angle
