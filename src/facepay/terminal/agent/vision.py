"""Edge vision: the quality gate, liveness and the probe embedding, run on the terminal.

The same `facepay.vision` code the server runs (`LivenessPolicy` with the default checks,
`assess_frame`, `capture_embedding`), so the patient hears "please move closer" or "please
blink" at camera speed. Online, a capture refused here never goes to the server; one that
passes is sent, and the server decides again: a terminal is never trusted to say "live".
Offline, this verdict is the voucher's evidence, which the server re-checks on upload.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime
from typing import Protocol

from facepay.services.face_cache import CachingFaceEngine
from facepay.shared.errors import InvalidInput
from facepay.terminal.agent.offline import Liveness, Probe
from facepay.terminal.protocol import score_units
from facepay.vision.engine import FaceEngine
from facepay.vision.liveness import ChallengeStore, Decision, LivenessPolicy
from facepay.vision.liveness.capture import Capture
from facepay.vision.liveness.policy import default_checks
from facepay.vision.quality import MESSAGES, assess_frame
from facepay.vision.verification import capture_embedding

IDENTIFY_FRAMES = 2
"""As the server embeds an identification's capture (services.support.IDENTIFY_FRAMES)."""


class EdgeVision(Protocol):
    """What the agent asks of the camera's frames."""

    @property
    def model_version(self) -> str:
        """The face model's version (the library's templates must be of it)."""
        ...

    def examine(
        self, capture: Capture, *, book: ChallengeStore, now: datetime, embed: bool
    ) -> Probe:
        """Quality gate, then liveness (redeeming the capture's local challenge), then, when
        `embed` and live, the probe embedding."""
        ...


class LocalVision:
    """`EdgeVision` on a real `FaceEngine` (dlib), one capture at a time."""

    def __init__(self, engine: FaceEngine) -> None:
        self._engine = (
            engine if isinstance(engine, CachingFaceEngine) else CachingFaceEngine(engine)
        )
        self._liveness = LivenessPolicy(engine=self._engine, checks=default_checks())
        self._lock = threading.Lock()

    @property
    def model_version(self) -> str:
        """The engine's model version."""
        return self._engine.model_version

    def examine(
        self, capture: Capture, *, book: ChallengeStore, now: datetime, embed: bool
    ) -> Probe:
        """See `EdgeVision.examine`."""
        with self._lock:  # a kiosk films one patient at a time; the models are not free
            first = capture.frames[0].rgb
            report = assess_frame(first, self._engine.detect(first))
            if not report.ok:
                return Probe(None, Liveness(False, MESSAGES[report.reasons[0]]))
            steps: tuple[str, ...] = ()
            if capture.challenge_nonce is not None:
                _, challenge = book.peek(capture.challenge_nonce, now=now)
                steps = tuple(a.value for a in challenge.actions) if challenge else ()
            decision = self._liveness.evaluate(capture=capture, book=book, now=now)
            checks = {
                c.name: score_units(c.score) if math.isfinite(c.score) else 0
                for c in decision.checks
                if c.applicable
            }
            verdict = Liveness(
                decision.decision is Decision.LIVE,
                decision.message,
                steps,
                checks,
                len(capture.frames),
            )
            if not verdict.passed or not embed:
                return Probe(None, verdict)
            try:
                embedding = capture_embedding(
                    self._engine, [f.rgb for f in capture.frames], count=IDENTIFY_FRAMES
                )
            except InvalidInput:
                return Probe(None, verdict)
            return Probe(embedding, verdict)
