"""`Capture`: what a terminal sends for a liveness decision — frames, not a photo.

A capture is a short sequence of timestamped frames (RGB, optionally a depth map in millimetres
and a near-infrared image registered to the RGB frame), the terminal's camera capabilities, and
the nonce of the challenge the server issued for it. Frame times are seconds since `started_at`,
so a challenge's action windows can be checked against them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from facepay.shared.errors import InvalidInput
from facepay.vision.types import RGBImage

DepthMap = NDArray[np.float32]
"""H×W depth in millimetres, registered to the RGB frame; 0 where the sensor has no reading."""

InfraredImage = NDArray[np.uint8]
"""H×W near-infrared intensity, registered to the RGB frame."""


@dataclass(frozen=True, slots=True)
class TerminalCapabilities:
    """Which sensors a terminal has besides its RGB camera."""

    depth: bool = False
    infrared: bool = False

    @property
    def passive_capable(self) -> bool:
        """RGB+depth+IR terminals may decide without an active challenge."""
        return self.depth and self.infrared

    @property
    def label(self) -> str:
        """`rgb`, `rgb+ir`, `rgb+depth` or `rgb+depth+ir`."""
        return "rgb" + ("+depth" if self.depth else "") + ("+ir" if self.infrared else "")


@dataclass(frozen=True, slots=True)
class Frame:
    """One timestamped frame; `t` is seconds since the capture started."""

    t: float
    rgb: RGBImage
    depth: DepthMap | None = None
    infrared: InfraredImage | None = None


@dataclass(frozen=True, slots=True)
class Capture:
    """Frames in time order, the terminal's sensors and the challenge this capture answers."""

    frames: tuple[Frame, ...]
    capabilities: TerminalCapabilities
    started_at: datetime
    challenge_nonce: str | None = None

    def __post_init__(self) -> None:
        if not self.frames:
            raise InvalidInput("a capture needs at least one frame")
        shape = self.frames[0].rgb.shape
        times = [f.t for f in self.frames]
        if any(b < a for a, b in itertools.pairwise(times)):
            raise InvalidInput("capture frames must be in time order")
        for frame in self.frames:
            if frame.rgb.shape != shape or frame.rgb.ndim != 3 or frame.rgb.shape[2] != 3:
                raise InvalidInput("all frames of a capture must be RGB images of one size")
            _check_registered(frame, shape[:2])

    @property
    def duration(self) -> float:
        """Seconds between the first and the last frame."""
        return self.frames[-1].t - self.frames[0].t

    @property
    def ended_at(self) -> datetime:
        """Wall-clock time of the last frame."""
        return self.started_at + timedelta(seconds=self.frames[-1].t)


def _check_registered(frame: Frame, size: tuple[int, ...]) -> None:
    for name, extra in (("depth", frame.depth), ("infrared", frame.infrared)):
        if extra is not None and extra.shape[:2] != size:
            msg = f"the {name} image must be registered to the RGB frame (same size)"
            raise InvalidInput(msg)
