"""Identity constancy: the face at the end of a capture is the face at its start.

Without it, an attacker could answer the challenge with their own face and swap in the victim's
photo for the frame that gets matched (or the reverse). The first and last good frames are
embedded and compared by cosine similarity; different people score ≈0.80-0.86 with the dlib
model, the same person in one session ≈0.95+.
"""

from __future__ import annotations

import numpy as np

from facepay.vision.liveness.checks.base import AttackType, CheckResult, Evidence, skipped

SAME_FACE = 0.92


class IdentityCheck:
    """Embedding similarity between the first and the last good frame."""

    name = "identity"

    def __init__(self, *, threshold: float = SAME_FACE) -> None:
        self._threshold = threshold

    def run(self, evidence: Evidence) -> CheckResult:
        """Compare the first and last good frames' embeddings."""
        good = evidence.track.good
        if len(good) < 2:
            return skipped(self.name, "fewer than two frames with a face")
        first, last = good[0], good[-1]
        assert first.face is not None
        assert last.face is not None
        frames = evidence.capture.frames
        a = evidence.engine.embed(frames[first.index].rgb, first.face)
        b = evidence.engine.embed(frames[last.index].rgb, last.face)
        similarity = float(np.dot(a, b))
        details = {"similarity": similarity}
        if similarity >= self._threshold:
            return CheckResult(
                self.name, similarity, True, f"same face (cosine {similarity:.3f})", details=details
            )
        return CheckResult(
            self.name,
            max(similarity, 0.0),
            False,
            f"the face changed during the capture (cosine {similarity:.3f})",
            attack=AttackType.FACE_SWAP,
            details=details,
        )
