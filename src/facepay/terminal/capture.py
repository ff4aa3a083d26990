"""What a terminal sends as a capture: frames answering the server's liveness challenge.

Three sources, one shape (`CaptureSource.record(challenge, prompt)`):

- `CameraSource`: a webcam through OpenCV's `VideoCapture`, filmed for as long as the challenge
  lasts while each step's prompt is shown to the patient;
- `VideoFileSource`: a video recorded in answer to this challenge by another program;
- `SyntheticSource`: frames rendered from a still photo by `facepay.vision.liveness.synth`.
  That is test data, for trying the API without a camera, and is labelled so wherever it is used.

`capture_body` turns a capture into the JSON body the API's `capture` field takes (JPEG frames,
as a kiosk camera sends them). The server, never the terminal, decides whether it is live.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from facepay.shared.errors import InvalidInput
from facepay.vision.engine import FaceEngine
from facepay.vision.image import load_image
from facepay.vision.liveness import Capture, Challenge, TerminalCapabilities
from facepay.vision.liveness.capture import Frame
from facepay.vision.liveness.challenge import PROMPTS, ActionWindow
from facepay.vision.liveness.files import read_video
from facepay.vision.liveness.synth.bona_fide import (
    Subject,
    bona_fide_capture,
    subjects_from_photo,
)
from facepay.vision.types import RGBImage

RGB_ONLY = TerminalCapabilities()
CAMERA_FPS = 10.0
TAIL_SECONDS = 0.4
"""Filmed after the last step's window closes, so that the step's end is in the frames."""
JPEG_QUALITY = 92
MAX_SIDE = 640
"""Frames are sent at most this wide or high: what the server's face pipeline works at."""
MAX_FRAMES = 32
"""Frames sent per capture: 32 of 640x480 is what the server keeps per capture by default
(FACEPAY_API_MAX_CAPTURE_KEPT_PIXELS), and fewer than FACEPAY_API_MAX_FRAMES."""
Prompt = Callable[[str], None]


def fit(frames: tuple[Frame, ...], *, max_frames: int = MAX_FRAMES) -> tuple[Frame, ...]:
    """At most `max_frames` frames, evenly spread over the capture (first and last kept), each
    scaled down to `MAX_SIDE`: a 10 fps webcam or a 30 fps phone video within the API's limits."""
    if len(frames) > max_frames:
        picks = np.linspace(0, len(frames) - 1, num=max_frames).round().astype(int)
        frames = tuple(frames[i] for i in dict.fromkeys(picks.tolist()))
    return tuple(Frame(t=f.t, rgb=_shrink(f.rgb)) for f in frames)


def _shrink(rgb: RGBImage) -> RGBImage:
    height, width = rgb.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


def prompt_of(step: ActionWindow) -> str:
    """The sentence a patient is shown (and hears) for one step, as the server words it."""
    return PROMPTS[step.action]


def encode_image(rgb: RGBImage, *, fmt: str = ".png") -> str:
    """Base64 of the image encoded as PNG (lossless) or JPEG (`.jpg`, as cameras send)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if fmt == ".jpg" else []
    ok, data = cv2.imencode(fmt, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise InvalidInput("cannot encode the frame")
    return base64.b64encode(data.tobytes()).decode("ascii")


def capture_body(capture: Capture, *, fmt: str = ".jpg") -> dict[str, Any]:
    """The API's `CaptureCreate` body of a capture."""
    return {
        "challenge_nonce": capture.challenge_nonce,
        "started_at": capture.started_at.isoformat(),
        "frames": [{"t": f.t, "image": encode_image(f.rgb, fmt=fmt)} for f in capture.frames],
    }


def challenge_of(body: dict[str, Any]) -> Challenge:
    """The challenge from the server's `ChallengeRead` response (or `facepay capture
    --challenge`'s file: the same JSON)."""
    shape = "a challenge is a JSON object with nonce, issued_at, expires_at and steps"
    if not isinstance(body, dict) or not isinstance(body.get("steps"), list):
        raise InvalidInput(shape)
    try:
        steps = [{k: s[k] for k in ("action", "start", "end")} for s in body["steps"]]
    except (KeyError, TypeError):
        raise InvalidInput(f"{shape}; each step has action, start and end") from None
    return Challenge.from_json({**body, "steps": steps})


def duration(challenge: Challenge) -> float:
    """Seconds to film for this challenge."""
    return max((step.end for step in challenge.steps), default=2.0) + TAIL_SECONDS


class CaptureSource(Protocol):
    """Something that films the patient answering a challenge."""

    label: str

    def record(self, challenge: Challenge, prompt: Prompt, *, attempt: int = 0) -> Capture:
        """Frames for `challenge`; `prompt(text)` shows the patient what to do, when to."""


@dataclass
class CameraSource:
    """A webcam (`VideoCapture(index)`), filmed at about `fps` for the challenge's duration."""

    index: int = 0
    fps: float = CAMERA_FPS
    label: str = "camera"
    opener: Callable[[int], Any] = field(default=cv2.VideoCapture, repr=False)

    def record(self, challenge: Challenge, prompt: Prompt, *, attempt: int = 0) -> Capture:
        """Film while prompting each step at its start time."""
        asked = time.monotonic()
        camera = self.opener(self.index)
        try:
            if not camera.isOpened():
                raise InvalidInput(f"cannot open camera {self.index}")
            return self._film(camera, challenge, prompt, asked)
        finally:
            camera.release()

    def _film(self, camera: Any, challenge: Challenge, prompt: Prompt, asked: float) -> Capture:
        pending = sorted(challenge.steps, key=lambda s: s.start)
        # Times on the server's clock: the challenge's own, plus what elapsed here since it
        # arrived (a kiosk clock behind the server's would otherwise predate the challenge).
        start = time.monotonic()
        frames: list[Frame] = []
        while (t := time.monotonic() - start) < duration(challenge):
            while pending and pending[0].start <= t:
                prompt(prompt_of(pending.pop(0)))
            ok, bgr = camera.read()
            if not ok:
                raise InvalidInput(f"camera {self.index} stopped sending frames")
            rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            frames.append(Frame(t=round(time.monotonic() - start, 3), rgb=rgb))
            time.sleep(max(0.0, (len(frames) / self.fps) - (time.monotonic() - start)))
        if not frames:
            raise InvalidInput(f"camera {self.index} gave no frame")
        started_at = challenge.issued_at + timedelta(seconds=0.05 + start - asked)
        return Capture(fit(tuple(frames)), RGB_ONLY, started_at, challenge.nonce)


@dataclass
class VideoFileSource:
    """A video file of the patient answering this challenge (recorded by another program)."""

    path: Path
    label: str = "video"

    def record(self, challenge: Challenge, prompt: Prompt, *, attempt: int = 0) -> Capture:
        """The file's frames, taken as filmed from just after the challenge was issued."""
        for step in challenge.steps:
            prompt(f"{step.start:4.1f} s: {prompt_of(step)} (the video must show this)")
        frames = fit(tuple(Frame(t=t, rgb=rgb) for t, rgb in read_video(self.path)))
        # On the server's clock, whatever this machine's says: filmed right after the challenge.
        started_at = challenge.issued_at + timedelta(milliseconds=50)
        return Capture(frames, RGB_ONLY, started_at, challenge.nonce)


SYNTHETIC = "synthetic (test data rendered from a still photo)"


@dataclass
class SubjectSource:
    """TEST DATA: an aligned face (`Subject`) brought to life by the liveness synthesiser,
    answering the challenge; attempt n of seed s draws frames from `Random(10 s + n)`."""

    subject: Subject
    seed: int = 0
    label: str = SYNTHETIC

    def record(self, challenge: Challenge, prompt: Prompt, *, attempt: int = 0) -> Capture:
        """Render the face doing each step."""
        for step in challenge.steps:
            prompt(f"(synthetic) {prompt_of(step)}")
        return bona_fide_capture(
            self.subject,
            challenge=challenge,
            capabilities=RGB_ONLY,
            started_at=challenge.issued_at + timedelta(milliseconds=50),
            rng=random.Random(self.seed * 10 + attempt),  # noqa: S311 - test frames, not secrets
        )


@dataclass
class SyntheticSource:
    """TEST DATA: the largest face of a still photo, animated as `SubjectSource` does. Never a
    substitute for a camera in front of a patient."""

    engine: FaceEngine
    photo: Path
    seed: int = 0
    label: str = SYNTHETIC
    _subject: Subject | None = field(default=None, repr=False)

    def record(self, challenge: Challenge, prompt: Prompt, *, attempt: int = 0) -> Capture:
        """Render the photo's largest face doing each step."""
        if self._subject is None:
            subjects = subjects_from_photo(self.engine, load_image(self.photo), "photo", "photo")
            if not subjects:
                raise InvalidInput(f"{self.photo.name}: no face large enough to animate")
            self._subject = subjects[0]
        return SubjectSource(self._subject, self.seed).record(challenge, prompt, attempt=attempt)


def write_video(path: Path, capture: Capture, *, fps: float | None = None) -> None:
    """Write a capture's frames as an MJPG AVI (what `VideoFileSource` reads back), at their
    own frame rate unless `fps` is given."""
    if fps is None:
        frames = capture.frames
        fps = (len(frames) - 1) / (frames[-1].t - frames[0].t) if len(frames) > 1 else CAMERA_FPS
    height, width = capture.frames[0].rgb.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    try:
        for frame in capture.frames:
            writer.write(cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
