"""Reading captures from files: image frames or one video, depth maps (16-bit PNG in mm or .npy)
and near-IR images. Everything untrusted goes through `load_image` or explicit checks; every
failure is an `InvalidInput` with a plain message."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from facepay.shared.errors import ImageRejected, InvalidInput
from facepay.vision.image import MAX_PIXELS, load_image
from facepay.vision.liveness.capture import (
    Capture,
    DepthMap,
    Frame,
    InfraredImage,
    TerminalCapabilities,
)
from facepay.vision.types import RGBImage

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
MAX_FRAMES = 300


def read_video(path: Path, *, max_frames: int = MAX_FRAMES) -> list[tuple[float, RGBImage]]:
    """Frames of a video file with their timestamps in seconds."""
    if not path.is_file():
        msg = f"no such file: {path}"
        raise InvalidInput(msg)
    video = cv2.VideoCapture(str(path))
    try:
        if not video.isOpened():
            msg = f"cannot open video {path.name}"
            raise ImageRejected(msg)
        fps = video.get(cv2.CAP_PROP_FPS) or 10.0
        frames: list[tuple[float, RGBImage]] = []
        while len(frames) < max_frames:
            ok, bgr = video.read()
            if not ok:
                break
            if bgr.shape[0] * bgr.shape[1] > MAX_PIXELS:
                msg = f"video frames of {path.name} are too large"
                raise ImageRejected(msg)
            rgb = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            frames.append((len(frames) / fps, rgb))
    finally:
        video.release()
    if not frames:
        msg = f"no frame could be decoded from {path.name}"
        raise ImageRejected(msg)
    return frames


def read_frames(paths: list[Path], *, fps: float) -> list[tuple[float, RGBImage]]:
    """One video file, or image files taken `fps` frames per second apart."""
    if len(paths) == 1 and paths[0].suffix.lower() in VIDEO_SUFFIXES:
        return read_video(paths[0])
    if fps <= 0:
        raise InvalidInput("--fps must be positive")
    return [(i / fps, load_image(p)) for i, p in enumerate(paths)]


def read_depth(path: Path) -> DepthMap:
    """A depth map in millimetres: 16-bit single-channel PNG or a 2-D .npy array."""
    if not path.is_file():
        msg = f"no such file: {path}"
        raise InvalidInput(msg)
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            msg = f"{path.name} is not a readable .npy array"
            raise InvalidInput(msg) from exc
    else:
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if array is None:
            msg = f"{path.name} is not a readable depth image"
            raise ImageRejected(msg)
        if array.dtype != np.uint16:
            msg = f"{path.name}: depth PNGs must be 16-bit (millimetres)"
            raise ImageRejected(msg)
    if array.ndim != 2 or array.size > MAX_PIXELS or not np.issubdtype(array.dtype, np.number):
        msg = f"{path.name}: a depth map must be a 2-D numeric array"
        raise InvalidInput(msg)
    depth = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return np.asarray(np.clip(depth, 0.0, None), dtype=np.float32)


def read_infrared(path: Path) -> InfraredImage:
    """A near-IR image (any format `load_image` accepts), as single-channel intensity."""
    rgb = load_image(path)
    return np.asarray(rgb.mean(axis=2).round(), dtype=np.uint8)


def capture_from_files(
    frames: list[Path],
    *,
    depth: list[Path],
    infrared: list[Path],
    fps: float,
    started_at: datetime,
    nonce: str | None,
) -> Capture:
    """Assemble a capture; depth and IR files, when given, pair one-to-one with the frames."""
    timed = read_frames(frames, fps=fps)
    for name, extra in (("--depth", depth), ("--ir", infrared)):
        if extra and len(extra) != len(timed):
            msg = f"{name} needs one file per frame ({len(timed)} frames, {len(extra)} files)"
            raise InvalidInput(msg)
    depths: list[DepthMap | None] = [read_depth(p) for p in depth] or [None] * len(timed)
    irs: list[InfraredImage | None] = [read_infrared(p) for p in infrared] or [None] * len(timed)
    built = tuple(
        Frame(t=t, rgb=rgb, depth=d, infrared=ir)
        for (t, rgb), d, ir in zip(timed, depths, irs, strict=True)
    )
    capabilities = TerminalCapabilities(depth=bool(depth), infrared=bool(infrared))
    return Capture(built, capabilities, started_at, nonce)
