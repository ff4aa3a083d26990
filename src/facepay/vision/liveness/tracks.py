"""Face tracks: the face in every frame of a capture and the signals the checks read from it.

Eye aspect ratio (EAR, Soukupová & Čech 2016) drops when the eyelids close; the mouth aspect
ratio (MAR) of the inner lip contour rises when the mouth opens; yaw and pitch come from
`estimate_pose` and are used as changes relative to the first good frame, never as absolutes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facepay.vision.engine import FaceEngine
from facepay.vision.liveness.capture import Capture
from facepay.vision.pose import estimate_pose
from facepay.vision.types import Face, Landmarks

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


def inter_ocular(landmarks: Landmarks) -> float:
    """Distance between the eye centres in pixels (the scale unit of the checks)."""
    left = landmarks[_LEFT_EYE].mean(axis=0)
    right = landmarks[_RIGHT_EYE].mean(axis=0)
    return float(np.linalg.norm(left - right))


def track_faces(engine: FaceEngine, capture: Capture) -> FaceTrack:
    """Find the face in every frame: the largest in the first, then the nearest to the last seen."""
    tracked: list[TrackedFrame] = []
    previous: Face | None = None
    for index, frame in enumerate(capture.frames):
        faces = engine.detect(frame.rgb)
        face = _pick(faces, previous)
        if face is None:
            tracked.append(TrackedFrame(index=index, t=frame.t, face=None))
            continue
        previous = face
        pose = estimate_pose(face.landmarks, frame.rgb.shape[:2])
        tracked.append(
            TrackedFrame(
                index=index,
                t=frame.t,
                face=face,
                ear=eye_aspect_ratio(face.landmarks),
                mar=mouth_aspect_ratio(face.landmarks),
                yaw=pose.yaw,
                pitch=pose.pitch,
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
