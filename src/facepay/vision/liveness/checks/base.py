"""What every liveness check shares: its input (`Evidence`), its output and the port it fills.

`LivenessCheck` is the port: a named object with `run(evidence) -> CheckResult`. A result that
is not `applicable` (no depth sensor, no model configured, not enough motion) carries no vote.
A failed result names the attack it points to, so the policy can guess the attack type.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from facepay.vision.engine import FaceEngine
from facepay.vision.liveness.capture import Capture
from facepay.vision.liveness.challenge import Action, Challenge
from facepay.vision.liveness.tracks import FaceTrack


class AttackType(enum.StrEnum):
    """The presentation attack a failed capture most resembles."""

    PRINT = "print"
    SCREEN_REPLAY = "screen_replay"
    CHALLENGE_REPLAY = "challenge_replay"
    FACE_SWAP = "face_swap"
    RIGID_MASK = "rigid_mask"


@dataclass(frozen=True, slots=True)
class Evidence:
    """A capture, its tracked face and (for active checks) the challenge it must answer."""

    capture: Capture
    track: FaceTrack
    engine: FaceEngine
    challenge: Challenge | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict: score in [0, 1] (1 = surely live), pass/fail and a plain reason."""

    name: str
    score: float
    passed: bool
    reason: str
    applicable: bool = True
    attack: AttackType | None = None
    missing: Action | None = None
    """For a failed challenge: the first action not seen (drives the retry message)."""
    details: Mapping[str, float] = field(default_factory=dict)
    """The measurements behind the verdict (for reports and threshold tuning)."""

    def to_json(self) -> dict[str, object]:
        """JSON-ready form for the CLI and the API."""
        return {
            "score": round(self.score, 4),
            "passed": self.passed,
            "applicable": self.applicable,
            "reason": self.reason,
            "attack": self.attack.value if self.attack else None,
            "details": {k: round(v, 4) for k, v in self.details.items()},
        }


def skipped(name: str, reason: str) -> CheckResult:
    """A result that does not vote (sensor absent, nothing to measure)."""
    return CheckResult(name=name, score=0.5, passed=True, reason=reason, applicable=False)


class LivenessCheck(Protocol):
    """A presentation-attack check over a capture's evidence."""

    @property
    def name(self) -> str:
        """Stable identifier used in reports (`active`, `depth`, …)."""
        ...

    def run(self, evidence: Evidence) -> CheckResult:
        """Judge the evidence; never raises for bad captures (fails or skips instead)."""
        ...
