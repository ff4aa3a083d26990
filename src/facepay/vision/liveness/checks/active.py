"""Active challenge–response: were the asked actions done, in order, inside their windows?

Events come from the landmark track: a blink is the eye aspect ratio falling to 3/4 of the
open-eye level, an open mouth is the inner-lip ratio rising well above its closed level, turns
and nods are yaw and pitch changes relative to the first frames. Without a challenge (a passive
RGB+depth+IR terminal) the check still asks for one spontaneous blink or mouth movement: a rigid
mask or a photo cannot deform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepay.vision.liveness.challenge import DEFORMING, Action
from facepay.vision.liveness.checks.base import AttackType, CheckResult, Evidence
from facepay.vision.liveness.tracks import FaceTrack

BLINK_RATIO = 0.8
MOUTH_RISE = 0.15
TURN_DEG = 12.0
NOD_DEG = 7.0


@dataclass(frozen=True, slots=True)
class Event:
    """An action seen in the track, at the time of its peak."""

    action: Action
    t: float


def detect_events(track: FaceTrack) -> list[Event]:
    """Every blink, mouth opening, turn and nod visible in the track, in time order."""
    times, ear = track.series("ear")
    _, mar = track.series("mar")
    _, yaw = track.series("yaw")
    _, pitch = track.series("pitch")
    if len(times) < 3:
        return []
    d_yaw = yaw - np.median(yaw[:2])
    d_pitch = pitch - np.median(pitch[:2])
    signals = {
        Action.BLINK: (np.percentile(ear, 80) * BLINK_RATIO - ear),
        Action.OPEN_MOUTH: mar - (np.percentile(mar, 20) + MOUTH_RISE),
        Action.TURN_LEFT: d_yaw - TURN_DEG,
        Action.TURN_RIGHT: -d_yaw - TURN_DEG,
        Action.NOD: np.where(np.abs(d_yaw) < TURN_DEG, np.abs(d_pitch) - NOD_DEG, -1.0),
    }
    events: list[Event] = []
    for action, signal in signals.items():
        events.extend(Event(action, float(times[i])) for i in _peaks(signal))
    return sorted(events, key=lambda e: e.t)


def _peaks(signal: np.ndarray) -> list[int]:
    """Index of the maximum of every run of positive values."""
    peaks, start = [], None
    for i, value in enumerate([*signal.tolist(), -1.0]):
        if value > 0 and start is None:
            start = i
        elif value <= 0 and start is not None:
            peaks.append(start + int(np.argmax(signal[start:i])))
            start = None
    return peaks


class ActiveChallengeCheck:
    """The challenge's actions, each in its window; without one, a spontaneous deformation."""

    name = "active"

    def run(self, evidence: Evidence) -> CheckResult:
        """Match detected events to the challenge's steps."""
        events = detect_events(evidence.track)
        deformations = [e for e in events if e.action in DEFORMING]
        seen = ", ".join(f"{e.action.value}@{e.t:.1f}s" for e in events) or "nothing"
        details = {"events": float(len(events)), "deformations": float(len(deformations))}
        challenge = evidence.challenge
        if challenge is None:
            if deformations:
                return CheckResult(self.name, 1.0, True, f"spontaneous {seen}", details=details)
            return CheckResult(
                self.name,
                0.0,
                False,
                "no blink or mouth movement seen",
                missing=Action.BLINK,
                details=details,
            )
        matched: set[int] = set()
        missing: Action | None = None
        for step in challenge.steps:
            hit = next(
                (
                    i
                    for i, e in enumerate(events)
                    if i not in matched
                    and e.action is step.action
                    and step.start <= e.t <= step.end
                ),
                None,
            )
            if hit is None:
                missing = missing or step.action
            else:
                matched.add(hit)
        wrong = [
            e for i, e in enumerate(events) if i not in matched and e.action is not Action.BLINK
        ]
        details["matched"] = float(len(matched))
        details["unexpected"] = float(len(wrong))
        score = len(matched) / len(challenge.steps)
        asked = ", ".join(a.value for a in challenge.actions)
        if missing is None and not wrong:
            return CheckResult(
                self.name, score, True, f"asked {asked}; saw {seen}", details=details
            )
        # Two or more confident actions that were not asked: a recording of another challenge.
        # One stray action (a prefix of an old challenge, or a confused patient) earns a retry.
        attack = AttackType.CHALLENGE_REPLAY if len(wrong) >= 2 else None
        lacking = f"missing {missing.value}" if missing else f"unasked {wrong[0].action.value}"
        return CheckResult(
            self.name,
            score,
            False,
            f"asked {asked}; saw {seen}; {lacking}",
            attack=attack,
            missing=missing or challenge.steps[0].action,
            details=details,
        )
