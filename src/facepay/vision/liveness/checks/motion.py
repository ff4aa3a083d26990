"""Rigid-plane motion: does the face move like a 3D head or like a sheet of paper?

A photo moved in front of the camera is a plane, so the motion of all its landmarks between two
frames is one homography. On a real head the nose sticks out ~2-3 cm in front of the face's
outline: when the head turns, the nose moves across the outline (parallax) and no homography
fitted to the outline predicts it. The check fits a homography from the first frame to each frame
with a clear pose change, on the outline (jaw, brows, eye corners), and measures how far the nose
landmarks land from the prediction, in inter-ocular distances.
"""

from __future__ import annotations

import cv2
import numpy as np

from facepay.vision.liveness.checks.base import AttackType, CheckResult, Evidence, skipped
from facepay.vision.liveness.tracks import inter_ocular

OUTLINE = [*range(17), *range(17, 27), 36, 39, 42, 45]
NOSE = list(range(27, 36))
MIN_POSE_CHANGE_DEG = 12.0
MIN_PARALLAX = 0.06


class RigidPlaneMotionCheck:
    """Nose parallax against a homography of the face outline."""

    name = "motion"

    def __init__(self, *, min_parallax: float = MIN_PARALLAX) -> None:
        self._min_parallax = min_parallax

    def run(self, evidence: Evidence) -> CheckResult:
        """Largest nose parallax over the frames where the pose changed."""
        good = evidence.track.good
        if len(good) < 3:
            return skipped(self.name, "too few frames to judge motion")
        ref = good[0]
        assert ref.face is not None
        ref_lm = ref.face.landmarks
        scale = inter_ocular(ref_lm)
        parallaxes = []
        for frame in good[1:]:
            assert frame.face is not None
            turned = max(abs(frame.yaw - ref.yaw), abs(frame.pitch - ref.pitch))
            if not turned >= MIN_POSE_CHANGE_DEG:
                continue
            lm = frame.face.landmarks
            homography, _ = cv2.findHomography(ref_lm[OUTLINE], lm[OUTLINE], 0)
            if homography is None:
                continue
            predicted = cv2.perspectiveTransform(ref_lm[NOSE].reshape(-1, 1, 2), homography)
            error = np.linalg.norm(predicted.reshape(-1, 2) - lm[NOSE], axis=1)
            parallaxes.append(float(error.mean()) / scale)
        if len(parallaxes) < 2:  # one frame's pose can be a landmark glitch
            return skipped(self.name, "no head movement to judge (pose changed < 12°)")
        parallax = max(parallaxes)
        details = {"parallax": parallax, "moving_frame_count": float(len(parallaxes))}
        score = min(1.0, parallax / (2 * self._min_parallax))
        if parallax >= self._min_parallax:
            return CheckResult(
                self.name, score, True, f"3D motion (nose parallax {parallax:.3f})", details=details
            )
        return CheckResult(
            self.name,
            score,
            False,
            f"the face moves like a flat sheet (parallax {parallax:.3f})",
            attack=AttackType.PRINT,
            details=details,
        )
