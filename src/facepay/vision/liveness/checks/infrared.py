"""Near-infrared: the face must be in the IR frame where RGB sees it, with skin-like brightness.

Phone and monitor screens emit no near-IR, so a replayed face vanishes (a dark or uniform panel)
under the terminal's 850 nm illuminator, while skin reflects it strongly and smoothly. The check
runs the face detector on the IR frame and requires a face overlapping the RGB face, whose mean
brightness is in the range lit skin gives.
"""

from __future__ import annotations

import numpy as np

from facepay.vision.liveness.checks.base import AttackType, CheckResult, Evidence, skipped
from facepay.vision.types import BoundingBox

MIN_OVERLAP = 0.4
SKIN_LEVEL = (50.0, 250.0)


def overlap(a: BoundingBox, b: BoundingBox) -> float:
    """Intersection over union of two boxes."""
    w = min(a.right, b.right) - max(a.left, b.left)
    h = min(a.bottom, b.bottom) - max(a.top, b.top)
    inter = max(w, 0) * max(h, 0)
    union = a.area + b.area - inter
    return inter / union if union else 0.0


class InfraredCheck:
    """Face present in near-IR at the RGB position, lit like skin."""

    name = "infrared"

    def run(self, evidence: Evidence) -> CheckResult:
        """Check the first and the middle good frames that carry IR."""
        frames = evidence.capture.frames
        candidates = [f for f in evidence.track.good if frames[f.index].infrared is not None]
        if not candidates:
            return skipped(self.name, "no infrared sensor")
        picks = {
            candidates[0].index: candidates[0],
            candidates[len(candidates) // 2].index: candidates[len(candidates) // 2],
        }
        worst: CheckResult | None = None
        for tracked in picks.values():
            ir = frames[tracked.index].infrared
            assert ir is not None
            assert tracked.face is not None
            result = self._judge(evidence, ir, tracked.face.box)
            if worst is None or result.score < worst.score:
                worst = result
        assert worst is not None
        return worst

    def _judge(self, evidence: Evidence, ir: np.ndarray, box: BoundingBox) -> CheckResult:
        region = ir[box.top : box.bottom, box.left : box.right]
        level = float(region.mean()) if region.size else 0.0
        faces = evidence.engine.detect(np.ascontiguousarray(np.dstack([ir, ir, ir])))
        best = max((overlap(f.box, box) for f in faces), default=0.0)
        details = {"ir_overlap": best, "ir_level": level}
        if best < MIN_OVERLAP:
            what = "a dark screen" if level < SKIN_LEVEL[0] else "no face"
            return CheckResult(
                self.name,
                best,
                False,
                f"infrared shows {what} where the camera sees a face",
                attack=AttackType.SCREEN_REPLAY,
                details=details,
            )
        low, high = SKIN_LEVEL
        if not low <= level <= high:
            return CheckResult(
                self.name,
                0.2,
                False,
                f"infrared brightness {level:.0f} is not lit skin",
                attack=AttackType.SCREEN_REPLAY,
                details=details,
            )
        return CheckResult(
            self.name, best, True, f"face in infrared (overlap {best:.2f})", details=details
        )
