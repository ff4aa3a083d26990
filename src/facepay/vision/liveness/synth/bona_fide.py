"""Bona fide captures: a real photo brought to life (blink, mouth, 3D head motion, depth, IR)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np

from facepay.vision.engine import FaceEngine
from facepay.vision.liveness.capture import Capture, Frame, InfraredImage, TerminalCapabilities
from facepay.vision.liveness.challenge import Action, ActionWindow, Challenge
from facepay.vision.liveness.synth.face3d import HEAD_RADIUS_MM, face_relief
from facepay.vision.liveness.synth.render import (
    CAMERA_MM,
    FloatMap,
    close_eyes,
    open_mouth,
    remap,
    remap_float,
    rotation_maps,
)
from facepay.vision.types import Face, Landmarks, RGBImage

FRAME_SIZE = 320
EYE_DISTANCE_PX = 64.0
"""Eye centres this far apart in a frame; with a 63 mm adult average that is ≈1 px per mm."""
PX_PER_MM = EYE_DISTANCE_PX / 63.0
FPS = 4.0
TURN_DEG = 22.0
NOD_DEG = -20.0
MOUTH_HOLD_EXTRA = 0.3
"""Seconds added to each side of an open mouth's hold (full open for ≈1.1 s in all)."""
PASSIVE_STEPS = (ActionWindow(Action.BLINK, 0.6, 2.0),)


@dataclass(frozen=True, slots=True)
class Subject:
    """One real face, aligned into a frame, with its landmarks and generic 3D relief."""

    name: str
    person: str
    image: RGBImage
    landmarks: Landmarks
    relief: FloatMap
    head_mask: FloatMap


@dataclass(frozen=True, slots=True)
class Motion:
    """What the face does at one instant."""

    yaw: float = 0.0
    pitch: float = 0.0
    blink: float = 0.0
    mouth: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)


def subjects_from_photo(
    engine: FaceEngine, image: RGBImage, name: str, person: str
) -> list[Subject]:
    """Every usable face in a photo (eyes ≥ 24 px apart), aligned into its own frame."""
    subjects = []
    for i, face in enumerate(engine.detect(image)):
        lm = face.landmarks
        if np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)) < 24:
            continue
        label = name if i == 0 else f"{name}#{i}"
        subjects.append(_align(image, face, label, person if i == 0 else f"{person}#{i}"))
    return subjects


def _align(image: RGBImage, face: Face, name: str, person: str) -> Subject:
    lm = face.landmarks
    left, right = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    angle = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    scale = EYE_DISTANCE_PX / float(np.linalg.norm(right - left))
    centre = (left + right) / 2
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    matrix[:, 2] += np.array([FRAME_SIZE / 2, FRAME_SIZE * 0.40]) - centre
    aligned = cv2.warpAffine(
        image,
        matrix,
        (FRAME_SIZE, FRAME_SIZE),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT,
    )
    points = np.asarray(np.hstack([lm, np.ones((68, 1))]) @ matrix.T, dtype=np.float64)
    relief = face_relief(points, (FRAME_SIZE, FRAME_SIZE), PX_PER_MM)
    blurred = cv2.GaussianBlur((relief > 0).astype(np.float32), (0, 0), 6.0)
    mask = np.clip(cv2.dilate(blurred, np.ones((15, 15), np.uint8)), 0.0, 1.0)
    image = np.asarray(aligned, dtype=np.uint8)
    return Subject(name, person, image, points, relief, np.asarray(mask, dtype=np.float32))


def action_motion(steps: Sequence[ActionWindow], t: float, *, deform: bool = True) -> Motion:
    """The motion at time t of someone doing each action in the middle of its window."""
    yaw = pitch = blink = mouth = 0.0
    for step in steps:
        centre = (step.start + step.end) / 2
        # Rise, hold ~0.5 s, fall: the way people do what a screen asks. Asked to open the
        # mouth, people hold it open for about a second, not for a blink's half second.
        off = abs(t - centre)
        if step.action is Action.OPEN_MOUTH:
            off = max(0.0, off - MOUTH_HOLD_EXTRA)
        swing = math.cos(math.pi * off) ** 2 if off < 0.5 else 0.0
        amount = min(1.0, 2.0 * swing)
        if step.action is Action.BLINK and deform:
            blink = max(blink, amount)
        elif step.action is Action.OPEN_MOUTH and deform:
            mouth = max(mouth, amount)
        elif step.action is Action.TURN_LEFT:
            yaw += TURN_DEG * amount
        elif step.action is Action.TURN_RIGHT:
            yaw -= TURN_DEG * amount
        elif step.action is Action.NOD:
            pitch += NOD_DEG * amount
    return Motion(yaw=yaw, pitch=pitch, blink=blink, mouth=mouth)


def frame_times(steps: Sequence[ActionWindow], fps: float = FPS) -> list[float]:
    """Sample times from 0 to just past the last window."""
    end = max(s.end for s in steps) + 0.3
    return [round(i / fps, 4) for i in range(int(end * fps) + 1)]


def render_frame(subject: Subject, motion: Motion, rng: random.Random, t: float) -> Frame:
    """One RGB + depth + IR frame of the subject doing `motion`."""
    image = close_eyes(subject.image, subject.landmarks, motion.blink)
    image = open_mouth(image, subject.landmarks, motion.mouth)
    centre = (float(subject.landmarks[30, 0]), float(subject.landmarks[30, 1]))
    map_x, map_y, distance = rotation_maps(
        subject.relief,
        yaw=motion.yaw,
        pitch=motion.pitch,
        px_per_mm=PX_PER_MM,
        centre=centre,
        pivot_mm=HEAD_RADIUS_MM,
        shift=motion.shift,
        weight=subject.head_mask,
    )
    rgb = remap(image, map_x, map_y)
    on_face = remap_float(subject.relief, map_x, map_y) > 0
    depth = np.where(on_face, distance, 0.0).astype(np.float32)
    return Frame(
        t=t,
        rgb=camera_noise(rgb, rng),
        depth=depth_noise(depth, rng),
        infrared=infrared_of(rgb, depth, rng),
    )


def noise(shape: tuple[int, ...], sigma: float, rng: random.Random) -> FloatMap:
    """Seeded Gaussian noise (float32: several times faster than float64 draws)."""
    generator = np.random.default_rng(rng.getrandbits(32))
    return generator.standard_normal(shape, dtype=np.float32) * np.float32(sigma)


def camera_noise(rgb: RGBImage, rng: random.Random, sigma: float = 2.0) -> RGBImage:
    """Sensor noise, seeded."""
    return np.asarray(np.clip(rgb + noise(rgb.shape, sigma, rng), 0, 255), dtype=np.uint8)


def depth_noise(depth: FloatMap, rng: random.Random) -> FloatMap:
    """Structured-light noise (≈1 mm) and 1 mm quantisation; no reading stays 0."""
    noisy = np.where(depth > 0, np.round(depth + noise(depth.shape, 0.8, rng)), 0.0)
    return np.asarray(noisy, dtype=np.float32)


def infrared_of(rgb: RGBImage, depth: FloatMap, rng: random.Random) -> InfraredImage:
    """Near-IR under the terminal's illuminator: skin bright, smooth, dimmer with distance."""
    channels = rgb.astype(np.float32)
    base = 0.7 * channels[..., 0] + 0.25 * channels[..., 1] + 0.05 * channels[..., 2]
    base = cv2.GaussianBlur(base, (0, 0), 1.2)
    lit = np.where(depth > 0, (CAMERA_MM / np.maximum(depth, 1.0)) ** 2, 0.35)
    ir = 215.0 * (base / 255.0) ** 0.8 * lit
    return np.asarray(np.clip(ir + noise(ir.shape, 2.0, rng), 0, 255), dtype=np.uint8)


def bona_fide_capture(
    subject: Subject,
    *,
    challenge: Challenge | None,
    capabilities: TerminalCapabilities,
    started_at: datetime,
    rng: random.Random,
    deform: bool = True,
) -> Capture:
    """The subject answering `challenge` (or, without one, blinking with small head motion)."""
    steps = challenge.steps if challenge is not None else PASSIVE_STEPS
    frames = []
    for t in frame_times(steps):
        motion = action_motion(steps, t, deform=deform)
        drift = (2.5 * math.sin(1.3 * t + rng.random()), 1.5 * math.sin(0.9 * t))
        motion = Motion(
            yaw=motion.yaw + drift[0],
            pitch=motion.pitch + drift[1],
            blink=motion.blink,
            mouth=motion.mouth,
            shift=(rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5)),
        )
        frames.append(strip(render_frame(subject, motion, rng, t), capabilities))
    nonce = challenge.nonce if challenge is not None else None
    return Capture(tuple(frames), capabilities, started_at, nonce)


def strip(frame: Frame, capabilities: TerminalCapabilities) -> Frame:
    """Drop the sensors the terminal does not have."""
    return Frame(
        t=frame.t,
        rgb=frame.rgb,
        depth=frame.depth if capabilities.depth else None,
        infrared=frame.infrared if capabilities.infrared else None,
    )
