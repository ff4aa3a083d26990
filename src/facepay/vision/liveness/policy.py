"""`LivenessPolicy`: runs the checks a terminal's sensors allow and decides live / spoof / retry.

RGB-only and RGB+IR terminals must answer an active challenge (nothing else in an RGB stream
separates a moving face from a good video of one). RGB+depth+IR terminals may decide passively;
they still need one spontaneous blink or mouth movement. Every challenge nonce is redeemed once.
Failed checks name the attack they point to; the policy reports the most specific one.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from facepay.vision.engine import FaceEngine
from facepay.vision.liveness.capture import Capture, TerminalCapabilities
from facepay.vision.liveness.challenge import PROMPTS, Challenge, ChallengeStatus, ChallengeStore
from facepay.vision.liveness.checks.active import ActiveChallengeCheck
from facepay.vision.liveness.checks.base import AttackType, CheckResult, Evidence, LivenessCheck
from facepay.vision.liveness.checks.depth import DepthReliefCheck
from facepay.vision.liveness.checks.identity import IdentityCheck
from facepay.vision.liveness.checks.infrared import InfraredCheck
from facepay.vision.liveness.checks.model import PadModel, PadModelCheck
from facepay.vision.liveness.checks.motion import RigidPlaneMotionCheck
from facepay.vision.liveness.checks.texture import ScreenTextureCheck
from facepay.vision.liveness.tracks import track_faces

MIN_FRAMES = 5
MIN_SECONDS = 1.0
SPOOF_MESSAGE = "We could not confirm that you are here in person. Please ask a member of staff."
ATTACK_PRIORITY = (
    AttackType.FACE_SWAP,
    AttackType.SCREEN_REPLAY,
    AttackType.PRINT,
    AttackType.CHALLENGE_REPLAY,
)


class Decision(enum.StrEnum):
    """The outcome of a liveness decision."""

    LIVE = "live"
    SPOOF = "spoof"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class LivenessDecision:
    """Decision, guessed attack (spoof only), a message for the patient and the checks behind it."""

    decision: Decision
    message: str
    reason: str
    attack: AttackType | None = None
    checks: tuple[CheckResult, ...] = ()

    def to_json(self) -> dict[str, object]:
        """JSON-ready form for the CLI and the API."""
        return {
            "decision": self.decision.value,
            "attack": self.attack.value if self.attack else None,
            "message": self.message,
            "reason": self.reason,
            "checks": {c.name: c.to_json() for c in self.checks},
        }


def _retry(message: str, reason: str, checks: Sequence[CheckResult] = ()) -> LivenessDecision:
    return LivenessDecision(Decision.RETRY, message, reason, None, tuple(checks))


def _spoof(
    attack: AttackType | None, reason: str, checks: Sequence[CheckResult] = ()
) -> LivenessDecision:
    return LivenessDecision(Decision.SPOOF, SPOOF_MESSAGE, reason, attack, tuple(checks))


def default_checks(
    *, pad_model: PadModel | None = None, identity_threshold: float = 0.92
) -> list[LivenessCheck]:
    """Every check, in report order; the sensor-specific ones skip themselves when unused."""
    return [
        ActiveChallengeCheck(),
        IdentityCheck(threshold=identity_threshold),
        RigidPlaneMotionCheck(),
        DepthReliefCheck(),
        InfraredCheck(),
        ScreenTextureCheck(),
        PadModelCheck(pad_model),
    ]


class LivenessPolicy:
    """Decides whether a capture shows a live person answering its challenge."""

    def __init__(
        self, *, engine: FaceEngine, checks: Sequence[LivenessCheck] | None = None
    ) -> None:
        self._engine = engine
        self._checks = list(checks) if checks is not None else default_checks()

    def evaluate(
        self, *, capture: Capture, book: ChallengeStore, now: datetime
    ) -> LivenessDecision:
        """Redeem the capture's challenge, run the checks and combine them."""
        challenge, refusal = check_challenge(
            nonce=capture.challenge_nonce,
            started_at=capture.started_at,
            ended_at=capture.ended_at,
            capabilities=capture.capabilities,
            book=book,
            now=now,
        )
        if refusal is not None:
            return refusal
        if len(capture.frames) < MIN_FRAMES or capture.duration < MIN_SECONDS:
            return _retry(
                "Please look at the camera while we record a short video.",
                "a still image or too short a capture cannot show liveness",
            )
        track = track_faces(self._engine, capture)
        if len(track.good) < max(MIN_FRAMES, 0.6 * len(capture.frames)):
            return _retry("Please look straight at the camera.", "face not found in enough frames")
        evidence = Evidence(capture=capture, track=track, engine=self._engine, challenge=challenge)
        results = [check.run(evidence) for check in self._checks]
        return _combine(results, challenge)

    def evaluate_assisted(self, *, capture: Capture) -> LivenessDecision:
        """Decide for a patient who cannot act (unconscious, confused): no challenge, no
        spontaneous blink; staff film the face while moving the camera round it. Every other
        check runs as usual, and one that sees the face is a solid head (`motion`: nose
        parallax as the viewpoint turns, or `depth`) must have had something to judge and passed.
        Weaker than a challenge against a rigid 3D mask, so the caller keeps it to staff and
        audits it (facepay.services.emergency)."""
        if capture.challenge_nonce is not None:
            return _retry(
                "An assisted capture answers no challenge.", "assisted capture with a nonce"
            )
        if len(capture.frames) < MIN_FRAMES or capture.duration < MIN_SECONDS:
            return _retry(
                "Film the face for a few seconds while moving the camera slowly round it.",
                "too short a capture to judge liveness",
            )
        track = track_faces(self._engine, capture)
        if len(track.good) < max(MIN_FRAMES, 0.6 * len(capture.frames)):
            return _retry("Keep the whole face in the picture.", "face not found in enough frames")
        evidence = Evidence(capture=capture, track=track, engine=self._engine, challenge=None)
        results = [check.run(evidence) for check in self._checks if check.name != "active"]
        solid = [r for r in results if r.name in SOLID_CHECKS and r.applicable]
        decision = _combine(results, None)
        if decision.decision is Decision.LIVE and not any(r.passed for r in solid):
            return _retry(
                "Move the camera slowly from one side of the face to the other.",
                "assisted: nothing showed a solid head (no viewpoint change, no depth)",
                results,
            )
        return decision


SOLID_CHECKS = ("motion", "depth")
"""Checks that can tell a head from a picture without the patient doing anything."""


def check_challenge(
    *,
    nonce: str | None,
    started_at: datetime,
    ended_at: datetime,
    capabilities: TerminalCapabilities,
    book: ChallengeStore,
    now: datetime,
    consume: bool = True,
) -> tuple[Challenge | None, LivenessDecision | None]:
    """The capture's challenge (spent now, whatever the outcome, unless `consume` is False), or
    why the capture is refused. It needs only the capture's times, not its pixels: the server
    runs it with `consume=False` before decoding a single frame."""
    if nonce is None:
        if capabilities.passive_capable:
            return None, None
        return None, _retry(
            "Please follow the instructions on the screen.",
            f"a {capabilities.label} terminal must answer an active challenge",
        )
    status, challenge = (book.redeem if consume else book.peek)(nonce, now=now)
    if challenge is None:
        return None, _spoof(AttackType.CHALLENGE_REPLAY, f"challenge nonce {status.value}")
    if status is ChallengeStatus.EXPIRED or ended_at > challenge.expires_at:
        return None, _retry("The time ran out. Please try again.", "challenge expired")
    if started_at < challenge.issued_at:
        return None, _spoof(
            AttackType.CHALLENGE_REPLAY, "frames recorded before the challenge was issued"
        )
    return challenge, None


def _combine(results: list[CheckResult], challenge: Challenge | None) -> LivenessDecision:
    failed = [r for r in results if r.applicable and not r.passed]
    if not failed:
        return LivenessDecision(
            Decision.LIVE, "Thank you.", "all checks passed", None, tuple(results)
        )
    for attack in ATTACK_PRIORITY:
        culprit = next((r for r in failed if r.attack is attack), None)
        if culprit is not None:
            return _spoof(attack, f"{culprit.name}: {culprit.reason}", results)
    by_name = {r.name: r for r in results}
    active = by_name.get("active")
    if active is not None and not active.passed:
        return _judge_inaction(active, by_name, challenge, results)
    first = failed[0]
    if first.name == "depth":
        return _retry(
            "Please move a little closer to the camera.", f"depth: {first.reason}", results
        )
    return _spoof(first.attack, f"{first.name}: {first.reason}", results)


def _judge_inaction(
    active: CheckResult,
    by_name: dict[str, CheckResult],
    challenge: Challenge | None,
    results: list[CheckResult],
) -> LivenessDecision:
    """The challenge was not answered: a rigid 3D face, a motionless picture, or just a retry."""
    still = active.details.get("deformations", 0.0) == 0.0
    solid = any(
        by_name[n].applicable and by_name[n].passed for n in ("depth", "motion") if n in by_name
    )
    if challenge is not None and still and solid:
        return _spoof(
            AttackType.RIGID_MASK, "3D face that never blinks or moves its mouth", results
        )
    if challenge is not None and active.details.get("events", 0.0) == 0.0 and not solid:
        return _spoof(AttackType.PRINT, "nothing in the capture moved like a face", results)
    prompt = PROMPTS[active.missing] if active.missing else "Please try again."
    return _retry(prompt, f"active: {active.reason}", results)
