"""How the policy binds challenges and combines check results (fake engine, stub checks)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from facepay.vision.fake_engine import FakeFaceEngine
from facepay.vision.liveness.capture import Capture, Frame, TerminalCapabilities
from facepay.vision.liveness.challenge import Action, ChallengeBook, issue_challenge
from facepay.vision.liveness.checks.base import AttackType, CheckResult, Evidence, skipped
from facepay.vision.liveness.policy import Decision, LivenessDecision, LivenessPolicy
from facepay.vision.types import BoundingBox

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RGB = TerminalCapabilities()
FULL = TerminalCapabilities(depth=True, infrared=True)


@dataclass
class Stub:
    """A check that returns a fixed result."""

    result: CheckResult

    @property
    def name(self) -> str:
        return self.result.name

    def run(self, evidence: Evidence) -> CheckResult:
        return self.result


def ok(name: str) -> CheckResult:
    return CheckResult(name, 1.0, True, "fine")


def bad(name: str, attack: AttackType | None = None, **details: float) -> CheckResult:
    return CheckResult(name, 0.0, False, "bad", attack=attack, missing=Action.NOD, details=details)


def engine() -> FakeFaceEngine:
    return FakeFaceEngine([(BoundingBox(20, 20, 80, 90), "alice")])


def capture(caps: TerminalCapabilities, start: datetime, nonce: str | None, n: int = 12) -> Capture:
    rgb = np.zeros((120, 100, 3), dtype=np.uint8)
    return Capture(tuple(Frame(i * 0.25, rgb) for i in range(n)), caps, start, nonce)


def decide(
    results: list[CheckResult], caps: TerminalCapabilities = RGB, *, with_challenge: bool = True
) -> LivenessDecision:
    book = ChallengeBook()
    challenge = book.add(issue_challenge(now=NOW, rng=random.Random(1))) if with_challenge else None
    policy = LivenessPolicy(engine=engine(), checks=[Stub(r) for r in results])
    cap = capture(caps, NOW + timedelta(seconds=1), challenge.nonce if challenge else None)
    return policy.evaluate(capture=cap, book=book, now=NOW + timedelta(seconds=5))


def test_all_checks_passing_is_live() -> None:
    decision = decide([ok("active"), ok("identity"), skipped("depth", "no depth sensor")])
    assert decision.decision is Decision.LIVE
    assert decision.attack is None


def test_rgb_terminal_without_challenge_is_refused() -> None:
    decision = decide([ok("active")], with_challenge=False)
    assert decision.decision is Decision.RETRY
    assert "must answer an active challenge" in decision.reason
    assert decision.checks == ()


def test_full_terminal_may_decide_passively() -> None:
    assert decide([ok("active")], FULL, with_challenge=False).decision is Decision.LIVE


def test_a_single_still_is_never_live() -> None:
    policy = LivenessPolicy(engine=engine(), checks=[Stub(ok("active"))])
    for caps in (RGB, FULL):
        book = ChallengeBook()
        nonce = book.add(issue_challenge(now=NOW)).nonce
        still = capture(caps, NOW + timedelta(seconds=1), nonce, n=1)
        decision = policy.evaluate(capture=still, book=book, now=NOW + timedelta(seconds=2))
        assert decision.decision is Decision.RETRY
        assert "still image" in decision.reason


def test_reused_unknown_expired_and_predated_challenges() -> None:
    policy = LivenessPolicy(engine=engine(), checks=[Stub(ok("active"))])
    book = ChallengeBook()
    challenge = book.add(issue_challenge(now=NOW, rng=random.Random(2)))
    first = capture(RGB, NOW + timedelta(seconds=1), challenge.nonce)
    later = NOW + timedelta(seconds=5)
    assert policy.evaluate(capture=first, book=book, now=later).decision is Decision.LIVE
    again = policy.evaluate(capture=first, book=book, now=later)
    assert (again.decision, again.attack) == (Decision.SPOOF, AttackType.CHALLENGE_REPLAY)
    unknown = policy.evaluate(capture=capture(RGB, later, "forged"), book=book, now=later)
    assert unknown.attack is AttackType.CHALLENGE_REPLAY

    expiring = book.add(issue_challenge(now=NOW, rng=random.Random(3), ttl_seconds=10))
    late = capture(RGB, NOW + timedelta(seconds=8), expiring.nonce)  # ends after the expiry
    assert (
        policy.evaluate(capture=late, book=book, now=later + timedelta(seconds=9)).decision
        is Decision.RETRY
    )

    fresh = book.add(issue_challenge(now=NOW, rng=random.Random(4)))
    old = capture(RGB, NOW - timedelta(minutes=5), fresh.nonce)
    predated = policy.evaluate(capture=old, book=book, now=later)
    assert (predated.decision, predated.attack) == (Decision.SPOOF, AttackType.CHALLENGE_REPLAY)


def test_the_most_specific_attack_wins() -> None:
    results = [bad("active", AttackType.CHALLENGE_REPLAY), bad("texture", AttackType.SCREEN_REPLAY),
               bad("identity", AttackType.FACE_SWAP)]  # fmt: skip
    decision = decide(results)
    assert (decision.decision, decision.attack) == (Decision.SPOOF, AttackType.FACE_SWAP)


@pytest.mark.parametrize(
    ("motion", "expected"),
    [(ok("motion"), AttackType.RIGID_MASK), (skipped("motion", "no movement"), AttackType.PRINT)],
)
def test_a_face_that_never_deforms(motion: CheckResult, expected: AttackType) -> None:
    active = bad("active", deformations=0.0, events=0.0)
    decision = decide([active, motion])
    assert (decision.decision, decision.attack) == (Decision.SPOOF, expected)


def test_a_missed_action_is_a_retry_with_a_plain_prompt() -> None:
    decision = decide([bad("active", deformations=1.0, events=1.0), ok("motion")])
    assert decision.decision is Decision.RETRY
    assert decision.message == "Please nod your head."
