"""Screen-replay texture: a screen's pixel grid leaves sharp peaks in the face's spectrum.

A camera filming a display samples the display's sub-pixel grid, which shows up as moiré: a few
strong, isolated peaks at high spatial frequency, where the spectrum of skin is smooth and falls
off. The check windows the face region, takes the log-magnitude spectrum, subtracts its local
background and reports the strongest isolated high-frequency peak. A second cue is colour: lit
skin is redder than it is blue, while a recaptured screen often is not (gamut and white-point
shift); it only counts together with a weaker spectral peak.
"""

from __future__ import annotations

import cv2
import numpy as np

from facepay.vision.liveness.checks.base import AttackType, CheckResult, Evidence, skipped
from facepay.vision.types import BoundingBox, RGBImage

PEAK_LIMIT = 3.0
BLUE_LIMIT = 0.5
MAX_SIDE = 192


def spectral_peak(rgb: RGBImage, box: BoundingBox) -> float:
    """Strongest isolated high-frequency peak of the face region (log-magnitude excess)."""
    side = min(box.width, box.height, MAX_SIDE)
    cx, cy = (box.left + box.right) // 2, (box.top + box.bottom) // 2
    x0, y0 = max(0, cx - side // 2), max(0, cy - side // 2)
    gray = cv2.cvtColor(rgb[y0 : y0 + side, x0 : x0 + side], cv2.COLOR_RGB2GRAY).astype(np.float32)
    if min(gray.shape) < 32:
        return 0.0
    gray -= gray.mean()
    window = np.outer(np.hanning(gray.shape[0]), np.hanning(gray.shape[1])).astype(np.float32)
    spectrum = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(gray * window))))
    background = cv2.blur(spectrum.astype(np.float32), (9, 9))
    fy = np.fft.fftshift(np.fft.fftfreq(gray.shape[0]))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(gray.shape[1]))[None, :]
    band = np.hypot(fx, fy) > 0.15
    return float((spectrum - background)[band].max())


def blue_fraction(rgb: RGBImage, box: BoundingBox) -> float:
    """Share of the face's central pixels that are bluer than red (rare for lit skin)."""
    w, h = box.width // 4, box.height // 4
    core = rgb[box.top + h : box.bottom - h, box.left + w : box.right - w].astype(np.int16)
    if core.size == 0:
        return 0.0
    return float((core[..., 2] > core[..., 0]).mean())


class ScreenTextureCheck:
    """Moiré peaks and colour-gamut cues on the face region."""

    name = "texture"

    def run(self, evidence: Evidence) -> CheckResult:
        """The worst of the first, middle and last good frames."""
        good = evidence.track.good
        if not good:
            return skipped(self.name, "no face to examine")
        frames = evidence.capture.frames
        picks = {f.index: f for f in (good[0], good[len(good) // 2], good[-1])}
        peak = blue = 0.0
        for tracked in picks.values():
            assert tracked.face is not None
            rgb = frames[tracked.index].rgb
            peak = max(peak, spectral_peak(rgb, tracked.face.box))
            blue = max(blue, blue_fraction(rgb, tracked.face.box))
        details = {"spectral_peak": peak, "blue_fraction": blue}
        screen = peak >= PEAK_LIMIT or (blue >= BLUE_LIMIT and peak >= 0.75 * PEAK_LIMIT)
        score = float(np.clip(1.0 - peak / (2 * PEAK_LIMIT), 0.0, 1.0))
        if screen:
            return CheckResult(
                self.name,
                score,
                False,
                f"screen pixel grid / moiré in the face (peak {peak:.2f}, blue {blue:.2f})",
                attack=AttackType.SCREEN_REPLAY,
                details=details,
            )
        return CheckResult(
            self.name, score, True, f"no screen texture (peak {peak:.2f})", details=details
        )
