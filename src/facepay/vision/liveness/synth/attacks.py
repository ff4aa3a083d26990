"""Presentation attacks made from the same real photos: prints, screens, swaps, masks, fake depth.

Each attack keeps the cues it really has: a print shows the face in infrared (paper reflects
near-IR) but is flat in depth; a screen is flat too and dark in infrared; a rigid mask has real
relief and shows in infrared but cannot blink or open its mouth. The tilted or bent print follows
the challenge's head movements (the strongest attacker), through the same 3D renderer as a face.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import datetime

import cv2
import numpy as np

from facepay.vision.liveness.capture import Capture, Frame, InfraredImage, TerminalCapabilities
from facepay.vision.liveness.challenge import ActionWindow, Challenge
from facepay.vision.liveness.synth.bona_fide import (
    PASSIVE_STEPS,
    PX_PER_MM,
    Subject,
    action_motion,
    bona_fide_capture,
    camera_noise,
    depth_noise,
    frame_times,
    noise,
    strip,
)

__all__ = ["face_swap", "fake_depth", "printed_photo", "rigid_mask", "screen_replay", "strip"]
from facepay.vision.liveness.synth.render import FloatMap, remap, rotation_maps
from facepay.vision.types import RGBImage

PRINT_MM = 420.0
SCREEN_MM = 380.0


def _steps(challenge: Challenge | None) -> Sequence[ActionWindow]:
    return challenge.steps if challenge is not None else PASSIVE_STEPS


def print_look(rgb: RGBImage, rng: random.Random) -> RGBImage:
    """A colour print: lower contrast and saturation, paper grain."""
    img = rgb.astype(np.float32)
    gray = img.mean(axis=2, keepdims=True)
    img = gray + 0.8 * (img - gray)
    img = 20.0 + 0.85 * img
    grain = noise(img.shape[:2], 3.0, rng)[..., None]
    return np.asarray(np.clip(img + grain, 0, 255), dtype=np.uint8)


def print_infrared(rgb: RGBImage) -> InfraredImage:
    """Paper reflects near-IR evenly; many inks are partly transparent, so contrast drops."""
    gray = rgb.astype(np.float32).mean(axis=2)
    return np.asarray(np.clip(90.0 + 0.55 * gray, 0, 255), dtype=np.uint8)


def _sheet(shape: tuple[int, int], sag_mm: float) -> FloatMap:
    """Height of a sheet bent about its vertical axis (0 for a flat print)."""
    xs = np.linspace(-1.0, 1.0, shape[1], dtype=np.float32)[None, :]
    return np.repeat(sag_mm * (1.0 - xs * xs), shape[0], axis=0).astype(np.float32)


def printed_photo(
    subject: Subject,
    *,
    challenge: Challenge | None,
    capabilities: TerminalCapabilities,
    started_at: datetime,
    rng: random.Random,
    moved: bool,
    sag_mm: float = 0.0,
) -> Capture:
    """A print held still (hand tremor only) or tilted and bent along with the asked head moves."""
    paper = print_look(subject.image, rng)
    steps = _steps(challenge)
    shape = _sheet(paper.shape[:2], sag_mm)
    centre = (paper.shape[1] / 2, paper.shape[0] / 2)
    frames = []
    for t in frame_times(steps):
        wanted = action_motion(steps, t, deform=False)
        yaw = 1.3 * wanted.yaw + 6.0 * math.sin(2.1 * t) if moved else 0.0
        pitch = 1.3 * wanted.pitch + 4.0 * math.sin(1.7 * t) if moved else 0.0
        shift = (rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0))
        map_x, map_y, distance = rotation_maps(
            shape,
            yaw=yaw,
            pitch=pitch,
            px_per_mm=PX_PER_MM,
            centre=centre,
            pivot_mm=0.0,
            shift=shift,
        )
        rgb = camera_noise(remap(paper, map_x, map_y), rng)
        depth = depth_noise(distance - (distance.mean() - PRINT_MM), rng)
        frames.append(strip(Frame(t, rgb, depth, print_infrared(rgb)), capabilities))
    nonce = challenge.nonce if challenge is not None else None
    return Capture(tuple(frames), capabilities, started_at, nonce)


def screen_look(rgb: RGBImage, rng: random.Random) -> RGBImage:
    """A display filmed by the camera: white-point shift, softness, sub-pixel grid, glare."""
    img = rgb.astype(np.float32)
    gray = img.mean(axis=2, keepdims=True)
    img = gray + 0.85 * (img - gray)
    img = img * np.array([0.9, 0.97, 1.1], dtype=np.float32) + np.array(
        [0, 6, 18], dtype=np.float32
    )
    img = cv2.GaussianBlur(img, (0, 0), 0.7)
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(2.6, 4.5)
    angle = math.radians(rng.uniform(-8.0, 8.0))
    u = xs * math.cos(angle) + ys * math.sin(angle)
    v = -xs * math.sin(angle) + ys * math.cos(angle)
    depth = rng.uniform(0.15, 0.25)
    grid = 1.0 - depth * (0.5 + 0.5 * np.cos(2 * math.pi * u / period)) * (
        0.6 + 0.4 * np.cos(2 * math.pi * v / period)
    )
    gx, gy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.1, 0.5) * h
    glare = 35.0 * np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * (0.2 * w) ** 2))
    img = img * grid[..., None] + glare[..., None]
    return camera_noise(np.asarray(np.clip(img, 0, 255), dtype=np.uint8), rng)


def screen_replay(
    recording: Capture,
    *,
    challenge: Challenge | None,
    capabilities: TerminalCapabilities,
    started_at: datetime,
    rng: random.Random,
) -> Capture:
    """An earlier bona fide video played on a phone or monitor: flat in depth, dark in near-IR."""
    frames = []
    for frame in recording.frames:
        rgb = screen_look(frame.rgb, rng)
        h, w = rgb.shape[:2]
        tilt = np.linspace(-6.0, 6.0, w, dtype=np.float32)[None, :].repeat(h, axis=0)
        depth = depth_noise(SCREEN_MM + tilt, rng)
        ir = np.clip(14.0 + noise((h, w), 3.0, rng), 0, 255).astype(np.uint8)
        frames.append(strip(Frame(frame.t, rgb, depth, ir), capabilities))
    nonce = challenge.nonce if challenge is not None else None
    return Capture(tuple(frames), capabilities, started_at, nonce)


def face_swap(first: Capture, second: Capture) -> Capture:
    """The first capture's frames until half-way, then the second's (same timeline)."""
    middle = first.frames[-1].t / 2
    frames = [f for f in first.frames if f.t < middle] + [f for f in second.frames if f.t >= middle]
    return Capture(tuple(frames), first.capabilities, first.started_at, first.challenge_nonce)


def rigid_mask(
    subject: Subject,
    *,
    challenge: Challenge | None,
    capabilities: TerminalCapabilities,
    started_at: datetime,
    rng: random.Random,
) -> Capture:
    """A rigid mask of the subject, worn by someone who turns and nods but cannot blink."""
    return bona_fide_capture(
        subject,
        challenge=challenge,
        capabilities=capabilities,
        started_at=started_at,
        rng=rng,
        deform=False,
    )


def fake_depth(capture: Capture, *, sag_mm: float, rng: random.Random) -> Capture:
    """Replace every depth map by a flat (sag 0) or slightly bent sheet at arm's length."""
    frames = []
    for frame in capture.frames:
        h, w = frame.rgb.shape[:2]
        sheet = (
            PRINT_MM - _sheet((h, w), sag_mm) + np.linspace(-4.0, 4.0, h, dtype=np.float32)[:, None]
        )
        frames.append(Frame(frame.t, frame.rgb, depth_noise(sheet, rng), frame.infrared))
    return Capture(tuple(frames), capture.capabilities, capture.started_at, capture.challenge_nonce)
