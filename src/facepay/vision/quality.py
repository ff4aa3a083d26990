"""Quality gate for enrolment and probe frames, in the spirit of ISO/IEC 29794-5.

A frame passes when it holds exactly one dominant face that is large, sharp, well exposed,
facing the camera and not occluded. Every failed check yields a `QualityIssue` with a stable
machine-readable `reason` and a human message; the measured values come along so that a kiosk
can coach the patient ("come closer", "more light"). Thresholds are the named constants below,
calibrated on the sample photos and their degraded variants (tests/integration/vision).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from facepay.vision.pose import HeadPose, estimate_pose
from facepay.vision.types import BoundingBox, Face, RGBImage

Reason = Literal[
    "too_small",
    "blurred",
    "too_dark",
    "overexposed",
    "pose_yaw",
    "pose_pitch",
    "multiple_faces",
    "no_face",
    "occluded",
]

MIN_FACE_PX = 80
"""Face box width; below it the 150 px recognition chip is mostly interpolation."""
MIN_SHARPNESS = 3.0
"""100 × var(Laplacian) / var(grey) of the face rescaled to 128×128: independent of face size
and of exposure (a dark face is judged `too_dark`, not `blurred`). Sharp photos read 15-45, the
small faces of t1.jpg 4.6, a Gaussian blur of σ ≥ 3 px on a 270 px face below 2.3."""
MIN_BRIGHTNESS = 50.0
MAX_BRIGHTNESS = 200.0
"""Mean grey level (0-255) of the inner face."""
MAX_CLIPPED_FRACTION = 0.25
"""Share of inner-face pixels at 250 or more above which the face is washed out."""
MAX_YAW_DEG = 30.0
MAX_PITCH_DEG = 25.0
MULTIPLE_FACE_RATIO = 0.6
"""Another face at least this fraction of the largest face's width makes the frame ambiguous."""
MIN_EYE_CONTRAST = 0.4
"""Grey spread around each eye relative to the inner face's; sharp photos read 0.85-1.1,
an eye hidden by sunglasses or a hand reads near 0."""
INNER_LANDMARKS = slice(27, 68)
"""Nose, eyes and mouth must lie inside the frame; the jaw line and brows may be cut off."""
MAX_CLIPPED_BOX_ASPECT = 0.9
"""dlib's detectors return square boxes, so a box against the border that is clearly narrower
than tall (or the reverse) was cut by the frame; the landmarks then get squeezed into the visible
part and cannot be trusted to reveal it."""
_MIN_CONTRAST_SD = 20.0
_PATCH = 128

MESSAGES: dict[Reason, str] = {
    "too_small": "The face is too small: come closer to the camera.",
    "blurred": "The picture is blurred: hold still and keep the camera clean.",
    "too_dark": "The face is too dark: face the light.",
    "overexposed": "The face is overexposed: avoid direct light on the face or the camera.",
    "pose_yaw": "The head is turned sideways: look straight at the camera.",
    "pose_pitch": "The head is tilted up or down: look straight at the camera.",
    "multiple_faces": "More than one face is in view: only the patient should face the camera.",
    "no_face": "No face was found: face the camera.",
    "occluded": "Part of the face is hidden or out of the picture: remove glasses, mask or hands.",
}


@dataclass(frozen=True, slots=True)
class QualityIssue:
    """One failed check: a stable `reason` code and a message for the person in front."""

    reason: Reason
    message: str


@dataclass(frozen=True, slots=True)
class FaceMetrics:
    """What the gate measured on one face."""

    face_px: int
    sharpness: float
    brightness: float
    clipped_fraction: float
    eye_contrast: float
    landmarks_inside: bool
    pose: HeadPose


@dataclass(frozen=True, slots=True)
class QualityReport:
    """The verdict on a frame (or on one face of it); `metrics` is None when there is no face."""

    issues: tuple[QualityIssue, ...]
    metrics: FaceMetrics | None

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.issues

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """The failed checks' codes, in a stable order."""
        return tuple(issue.reason for issue in self.issues)


def issue(reason: Reason) -> QualityIssue:
    """The issue for `reason` with its standard message."""
    return QualityIssue(reason=reason, message=MESSAGES[reason])


def assess_frame(image: RGBImage, faces: Sequence[Face]) -> QualityReport:
    """Judge a capture: exactly one dominant face, and that face good enough to embed."""
    if not faces:
        return QualityReport(issues=(issue("no_face"),), metrics=None)
    largest = max(faces, key=lambda f: f.box.area)
    report = assess_face(image, largest)
    rivals = [
        f
        for f in faces
        if f is not largest and f.box.width >= MULTIPLE_FACE_RATIO * largest.box.width
    ]
    if rivals:
        issues = (issue("multiple_faces"), *report.issues)
        return QualityReport(issues=issues, metrics=report.metrics)
    return report


def assess_face(image: RGBImage, face: Face) -> QualityReport:
    """Judge one face on its own (size, sharpness, exposure, pose, occlusion)."""
    metrics = measure(image, face)
    found: list[Reason] = []
    if metrics.face_px < MIN_FACE_PX:
        found.append("too_small")
    if metrics.sharpness < MIN_SHARPNESS:
        found.append("blurred")
    if metrics.brightness < MIN_BRIGHTNESS:
        found.append("too_dark")
    if metrics.brightness > MAX_BRIGHTNESS or metrics.clipped_fraction > MAX_CLIPPED_FRACTION:
        found.append("overexposed")
    if not abs(metrics.pose.yaw) <= MAX_YAW_DEG:  # NaN (no pose) fails too
        found.append("pose_yaw")
    if not abs(metrics.pose.pitch) <= MAX_PITCH_DEG:
        found.append("pose_pitch")
    if not metrics.landmarks_inside or metrics.eye_contrast < MIN_EYE_CONTRAST:
        found.append("occluded")
    return QualityReport(issues=tuple(issue(r) for r in found), metrics=metrics)


def measure(image: RGBImage, face: Face) -> FaceMetrics:
    """Measure size, sharpness, exposure, eye contrast, framing and pose of one face."""
    grey: NDArray[np.uint8] = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)  # type: ignore[assignment]
    height, width = grey.shape
    box = face.box
    region = grey[max(box.top, 0) : box.bottom, max(box.left, 0) : box.right]
    inner = _inner(region)
    inner_sd = max(float(inner.std()), 1.0) if inner.size else 1.0
    points = face.landmarks
    xs, ys = points[INNER_LANDMARKS, 0], points[INNER_LANDMARKS, 1]
    inside = bool(np.all((xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)))
    inside = inside and not _cut_by_frame(face.box, width, height)
    eyes = min(_eye_contrast(grey, points[36:42]), _eye_contrast(grey, points[42:48]))
    return FaceMetrics(
        face_px=box.width,
        sharpness=_sharpness(region),
        brightness=float(inner.mean()) if inner.size else 0.0,
        clipped_fraction=float((inner >= 250).mean()) if inner.size else 0.0,
        eye_contrast=eyes / inner_sd,
        landmarks_inside=inside,
        pose=estimate_pose(points, (height, width)),
    )


def _cut_by_frame(box: BoundingBox, width: int, height: int) -> bool:
    touches = box.left <= 0 or box.top <= 0 or box.right >= width or box.bottom >= height
    short, long = sorted((box.width, box.height))
    return touches and short < MAX_CLIPPED_BOX_ASPECT * long


def _inner(region: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The central part of the face box: skin, not background or hair."""
    h, w = region.shape
    return region[h // 5 : h - h // 10, w // 5 : w - w // 5]


def _sharpness(region: NDArray[np.uint8]) -> float:
    # Rescaling to a fixed patch makes the figure comparable between a 90 px and a 400 px face.
    if region.size == 0:
        return 0.0
    patch = cv2.resize(region, (_PATCH, _PATCH), interpolation=cv2.INTER_AREA)
    # Laplacian variance grows with contrast squared; dividing by the grey variance (floored so
    # that a flat dark patch does not explode) leaves mostly the edge sharpness.
    contrast = max(float(patch.std()), _MIN_CONTRAST_SD) ** 2
    return 100.0 * float(cv2.Laplacian(patch, cv2.CV_64F).var()) / contrast


def _eye_contrast(grey: NDArray[np.uint8], eye: NDArray[np.float64]) -> float:
    """Grey-level spread in a box around one eye's six landmarks, padded by half its width."""
    x0, y0 = eye.min(axis=0)
    x1, y1 = eye.max(axis=0)
    pad = max((x1 - x0) * 0.5, 2.0)
    left, right = max(math.floor(x0 - pad), 0), min(math.ceil(x1 + pad), grey.shape[1])
    top, bottom = max(math.floor(y0 - pad), 0), min(math.ceil(y1 + pad), grey.shape[0])
    patch = grey[top:bottom, left:right]
    return float(patch.std()) if patch.size >= 4 else 0.0
