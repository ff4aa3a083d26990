"""A generic 3D face aligned to 68 landmarks: a relief map in millimetres.

The model is parametric rather than a scanned mean face: a head ellipsoid spanning the jaw
contour, a nose ridge rising from the bridge (landmark 27) to the tip (30), shallow eye sockets
and slightly protruding lips, all placed by the landmarks. Depth sensors only see this kind of
coarse relief (a nose tip ~20-35 mm in front of the cheeks), which is what the depth check tests.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from facepay.vision.types import Landmarks

HEAD_RADIUS_MM = 95.0
"""Distance from the face surface to the head's turning axis (the neck)."""
NOSE_TIP_MM = 20.0
FloatMap = NDArray[np.float32]


def face_relief(landmarks: Landmarks, size: tuple[int, int], px_per_mm: float) -> FloatMap:
    """Height of the face above its back plane, toward the camera, in mm (0 off the head)."""
    height, width = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    jaw = landmarks[0:17]
    cx = float(landmarks[27:31, 0].mean())
    cy = float((landmarks[19, 1] + landmarks[24, 1] + 2 * landmarks[8, 1]) / 4)
    a = float(np.linalg.norm(jaw[16] - jaw[0])) / 2 * 1.08
    b = float(landmarks[8, 1] - min(landmarks[19, 1], landmarks[24, 1])) * 0.62 + a * 0.25
    u = (xs - cx) / a
    v = (ys - cy) / b
    inside = np.clip(1.0 - u * u - v * v, 0.0, None)
    relief = (a / px_per_mm) * 0.75 * np.sqrt(inside)
    relief += _nose(xs, ys, landmarks)
    for eye in (landmarks[36:42], landmarks[42:48]):
        centre = eye.mean(axis=0)
        sigma = float(np.linalg.norm(eye[3] - eye[0])) * 0.45
        relief -= 6.0 * _gauss(xs, ys, centre, sigma, sigma)
    mouth = landmarks[48:68].mean(axis=0)
    mouth_w = float(np.linalg.norm(landmarks[54] - landmarks[48]))
    relief += 4.0 * _gauss(xs, ys, mouth, mouth_w * 0.45, mouth_w * 0.25)
    return np.asarray(np.where(inside > 0, np.clip(relief, 0.0, None), 0.0), dtype=np.float32)


def _nose(xs: FloatMap, ys: FloatMap, lm: Landmarks) -> FloatMap:
    """A ridge from the bridge to the tip, widening toward the nostrils."""
    top, tip = lm[27], lm[30]
    axis = tip - top
    length = float(np.linalg.norm(axis)) or 1.0
    along = ((xs - top[0]) * axis[0] + (ys - top[1]) * axis[1]) / (length * length)
    across = np.abs((xs - top[0]) * axis[1] - (ys - top[1]) * axis[0]) / length
    half_width = float(np.linalg.norm(lm[35] - lm[31])) / 2
    width = half_width * (0.45 + 0.55 * np.clip(along, 0.0, 1.0))
    rise = NOSE_TIP_MM * (0.35 + 0.65 * np.clip(along, 0.0, 1.0))
    below_tip = np.clip((along - 1.0) * length / (0.6 * half_width + 1e-6), 0.0, None)
    profile = np.exp(-((across / width) ** 2)) * np.exp(-(below_tip**2))
    in_span = (along > -0.1).astype(np.float32)
    return np.asarray(rise * profile * in_span, dtype=np.float32)


def _gauss(
    xs: FloatMap, ys: FloatMap, centre: NDArray[np.float64], sx: float, sy: float
) -> FloatMap:
    g = np.exp(-(((xs - centre[0]) / sx) ** 2 + ((ys - centre[1]) / sy) ** 2))
    return np.asarray(g, dtype=np.float32)
