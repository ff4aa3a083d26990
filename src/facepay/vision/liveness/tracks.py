"""Face tracks: the face in every frame of a capture and the signals the checks read from it.

Eye aspect ratio (EAR, Soukupová & Čech 2016) drops when the eyelids close; the mouth aspect
ratio (MAR) of the inner lip contour rises when the mouth opens; yaw and pitch come from
`estimate_pose` and are used as changes, never as absolutes. Because landmarks on small or
squinting eyes barely move when the lids close, each frame also carries `eye_match`: the
normalised cross-correlation of both eye regions (cut out along the eye corners, so scale and
roll do not matter) with the first good frame's — a closed eye no longer looks like an open one.

Finding the face is the costly part (a HOG detection over the whole frame, ~30 ms on one core).
The first and the last frames are detected - they are the key frames the identity check and the
identification embed, and a detection sees every face in them - and the face is followed in the
frames between from the previous frame's landmarks (`FaceFollower`), confirmed by a small
detection every `CONFIRM_EVERY` frames, with a detection again wherever the engine cannot follow
it. Engines that cannot follow (the fake) are detected in
every frame, as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from facepay.vision.engine import FaceEngine, FaceFollower
from facepay.vision.liveness.capture import Capture
from facepay.vision.pose import estimate_pose
from facepay.vision.types import Face, Landmarks, RGBImage

CONFIRM_EVERY = 4
"""Every this many frames a followed face is confirmed by a small detection (1 s at 4 fps)."""
_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)


@dataclass(frozen=True, slots=True)
class TrackedFrame:
    """One frame's face (None when it was not found) and its signals."""

    index: int
    t: float
    face: Face | None
    ear: float = math.nan
    mar: float = math.nan
    yaw: float = math.nan
    pitch: float = math.nan
    eye_match: float = math.nan
    nose_x: float = math.nan
    """Nose tip across the face outline (0 centred; grows as the head turns to image right)."""
    nose_y: float = math.nan
    """Nose tip down the eyes-to-chin line (grows as the chin goes down)."""


@dataclass(frozen=True, slots=True)
class FaceTrack:
    """The tracked face over a capture."""

    frames: tuple[TrackedFrame, ...]

    @property
    def good(self) -> list[TrackedFrame]:
        """Frames where the face was found."""
        return [f for f in self.frames if f.face is not None]

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Times and values of one signal over the good frames."""
        good = self.good
        return (
            np.array([f.t for f in good], dtype=np.float64),
            np.array([getattr(f, name) for f in good], dtype=np.float64),
        )


def eye_aspect_ratio(landmarks: Landmarks) -> float:
    """Mean EAR of both eyes: lid opening over eye width (≈0.3 open, <0.2 closed)."""
    values = []
    for eye in (landmarks[_LEFT_EYE], landmarks[_RIGHT_EYE]):
        vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        width = float(np.linalg.norm(eye[0] - eye[3]))
        values.append(float(vertical) / (2.0 * width) if width > 0 else math.nan)
    return float(np.mean(values))


def mouth_aspect_ratio(landmarks: Landmarks) -> float:
    """Inner-lip opening over mouth width (≈0 closed, >0.3 open)."""
    vertical = sum(
        float(np.linalg.norm(landmarks[a] - landmarks[b]))
        for a, b in ((61, 67), (62, 66), (63, 65))
    )
    width = float(np.linalg.norm(landmarks[48] - landmarks[54]))
    return vertical / (3.0 * width) if width > 0 else math.nan


def eye_patches(image: RGBImage, landmarks: Landmarks) -> NDArray[np.float32]:
    """Both eye regions resampled along their corners into one 20×64 grey patch."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    patches = []
    for a, b in ((36, 39), (42, 45)):
        p0, p1 = landmarks[a], landmarks[b]
        d = p1 - p0
        n = np.array([-d[1], d[0]])
        corners = [p0 - 0.15 * d - 0.35 * n, p1 + 0.15 * d - 0.35 * n, p0 - 0.15 * d + 0.35 * n]
        src = np.array(corners, dtype=np.float32)
        dst = np.array([[0, 0], [32, 0], [0, 20]], dtype=np.float32)
        matrix = cv2.getAffineTransform(src, dst)
        patches.append(cv2.warpAffine(gray, matrix, (32, 20), flags=cv2.INTER_LINEAR))
    return np.asarray(np.hstack(patches), dtype=np.float32)


def correlation(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """Normalised cross-correlation of two equal-size patches (1 = same appearance)."""
    a0, b0 = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a0 * a0).sum() * (b0 * b0).sum()))
    return float((a0 * b0).sum()) / denominator if denominator > 1e-6 else 0.0


def nose_position(landmarks: Landmarks) -> tuple[float, float]:
    """Where the nose tip sits within the face: a pose proxy that needs no 3D model.

    solvePnP on a generic head saturates for faces that start turned away; the nose tip moving
    across the cheek contour (landmarks 2 and 14) or down the eyes-to-chin line does not.
    """
    width = float(landmarks[14, 0] - landmarks[2, 0])
    eyes_y = float(landmarks[36:48, 1].mean())
    height = float(landmarks[8, 1]) - eyes_y
    if width <= 0 or height <= 0:
        return math.nan, math.nan
    across = (float(landmarks[30, 0]) - float(landmarks[2, 0])) / width - 0.5
    return across, (float(landmarks[30, 1]) - eyes_y) / height


def inter_ocular(landmarks: Landmarks) -> float:
    """Distance between the eye centres in pixels (the scale unit of the checks)."""
    left = landmarks[_LEFT_EYE].mean(axis=0)
    right = landmarks[_RIGHT_EYE].mean(axis=0)
    return float(np.linalg.norm(left - right))


def track_faces(engine: FaceEngine, capture: Capture) -> FaceTrack:
    """Find the face in every frame: the largest in the first, then the nearest to the last seen
    (followed from the previous frame between the first and the last frame when it can be)."""
    tracked: list[TrackedFrame] = []
    previous: Face | None = None
    reference: NDArray[np.float32] | None = None
    follower = engine if isinstance(engine, FaceFollower) else None
    last = len(capture.frames) - 1
    for index, frame in enumerate(capture.frames):
        face = None
        if follower is not None and previous is not None and 0 < index < last:
            confirm = index % CONFIRM_EVERY == 0
            face = follower.follow(frame.rgb, previous, confirm=confirm)
        if face is None:
            face = _pick(engine.detect(frame.rgb), previous)
        if face is None:
            tracked.append(TrackedFrame(index=index, t=frame.t, face=None))
            continue
        previous = face
        pose = estimate_pose(face.landmarks, frame.rgb.shape[:2])
        eyes = eye_patches(frame.rgb, face.landmarks)
        reference = eyes if reference is None else reference
        tracked.append(
            TrackedFrame(
                index=index,
                t=frame.t,
                face=face,
                ear=eye_aspect_ratio(face.landmarks),
                mar=mouth_aspect_ratio(face.landmarks),
                yaw=pose.yaw,
                pitch=pose.pitch,
                eye_match=correlation(reference, eyes),
                nose_x=nose_position(face.landmarks)[0],
                nose_y=nose_position(face.landmarks)[1],
            )
        )
    return FaceTrack(frames=tuple(tracked))


def _pick(faces: list[Face], previous: Face | None) -> Face | None:
    if not faces:
        return None
    if previous is None:
        return faces[0]
    px = (previous.box.left + previous.box.right) / 2
    py = (previous.box.top + previous.box.bottom) / 2

    def distance(face: Face) -> float:
        return math.hypot(
            (face.box.left + face.box.right) / 2 - px, (face.box.top + face.box.bottom) / 2 - py
        )

    return min(faces, key=distance)
