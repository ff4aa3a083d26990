"""Depth relief: a face has a nose 15-40 mm in front of its cheeks; paper and screens do not.

On the most frontal frame with a depth map, the check reads the depth at the nose tip and on both
cheeks (half-way between the jaw and the nostrils) and fits a plane and a quadric surface to the
face region. A photo is a plane (possibly tilted: the plane fits), a bent photo a cylinder (the
quadric fits); a face leaves centimetres of residual to the plane and millimetres to the quadric,
because the nose is a local bump no quadric follows.
"""

from __future__ import annotations

import cv2
import numpy as np

from facepay.vision.liveness.checks.base import AttackType, CheckResult, Evidence, skipped
from facepay.vision.types import Landmarks

RELIEF_MM = (15.0, 40.0)
MIN_QUADRIC_RMS_MM = 1.5
MIN_COVERAGE = 0.5


def _patch(depth: np.ndarray, point: np.ndarray, radius: int) -> float:
    x, y = round(float(point[0])), round(float(point[1]))
    h, w = depth.shape
    window = depth[
        max(0, y - radius) : min(h, y + radius + 1), max(0, x - radius) : min(w, x + radius + 1)
    ]
    valid = window[window > 0]
    return float(np.median(valid)) if valid.size else float("nan")


def _fit_rms(x: np.ndarray, y: np.ndarray, z: np.ndarray, quadric: bool) -> float:
    columns = [x, y, np.ones_like(x)]
    if quadric:
        columns += [x * x, y * y, x * y]
    design = np.stack(columns, axis=1)
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    return float(np.sqrt(np.mean((design @ coef - z) ** 2)))


def relief_measures(depth: np.ndarray, lm: Landmarks) -> dict[str, float]:
    """Nose-to-cheek relief, plane and quadric residuals (mm) and depth coverage of the face."""
    mask = np.zeros(depth.shape, dtype=np.uint8)
    hull = cv2.convexHull(lm[:27].astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    inside = mask.astype(bool)
    valid = inside & (depth > 0)
    coverage = float(valid.sum()) / max(int(inside.sum()), 1)
    radius = max(2, int(np.linalg.norm(lm[45] - lm[36]) / 20))
    nose = _patch(depth, lm[30], radius)
    cheeks = [_patch(depth, (lm[a] + lm[b]) / 2, radius) for a, b in ((2, 31), (14, 35))]
    ys, xs = np.nonzero(valid)
    out = {"coverage": coverage, "relief_mm": float(np.mean(cheeks)) - nose}
    if xs.size < 50:
        return out | {"plane_rms_mm": 0.0, "quadric_rms_mm": 0.0}
    step = max(1, xs.size // 4000)
    # Coordinates in units of the face size keep the least-squares problem well conditioned.
    size = float(np.ptp(lm[:, 0])) or 1.0
    x = (xs[::step] - xs.mean()) / size
    y = (ys[::step] - ys.mean()) / size
    z = depth[ys[::step], xs[::step]].astype(np.float64)
    out["plane_rms_mm"] = _fit_rms(x, y, z, quadric=False)
    out["quadric_rms_mm"] = _fit_rms(x, y, z, quadric=True)
    return out


class DepthReliefCheck:
    """Nose relief and non-planarity of the face's depth map."""

    name = "depth"

    def run(self, evidence: Evidence) -> CheckResult:
        """Measure relief on the most frontal good frame that has depth."""
        frames = evidence.capture.frames
        candidates = [f for f in evidence.track.good if frames[f.index].depth is not None]
        if not candidates:
            return skipped(self.name, "no depth sensor")
        ref = candidates[0]
        best = min(candidates, key=lambda f: abs(f.yaw - ref.yaw) + abs(f.pitch - ref.pitch))
        depth = frames[best.index].depth
        assert depth is not None
        assert best.face is not None
        m = relief_measures(depth, best.face.landmarks)
        if m["coverage"] < MIN_COVERAGE:
            return CheckResult(
                self.name, 0.0, False, "no depth reading on most of the face", details=m
            )
        relief, quadric = m["relief_mm"], m["quadric_rms_mm"]
        low, high = RELIEF_MM
        score = float(np.clip(relief / low, 0.0, 1.0)) * float(
            np.clip(quadric / MIN_QUADRIC_RMS_MM, 0, 1)
        )
        if low <= relief <= high and quadric >= MIN_QUADRIC_RMS_MM:
            return CheckResult(
                self.name,
                score,
                True,
                f"face-shaped relief (nose {relief:.0f} mm proud)",
                details=m,
            )
        if relief > high:
            return CheckResult(
                self.name, 0.0, False, f"implausible relief ({relief:.0f} mm)", details=m
            )
        return CheckResult(
            self.name,
            score,
            False,
            f"flat or bent surface (nose {relief:.0f} mm proud, quadric residual {quadric:.1f} mm)",
            attack=AttackType.PRINT,
            details=m,
        )
