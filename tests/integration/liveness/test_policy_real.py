"""The policy on captures synthesised from real photos: challenge binding and still images."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.liveness.capture import Capture, Frame, TerminalCapabilities
from facepay.vision.liveness.challenge import ChallengeBook, issue_challenge
from facepay.vision.liveness.checks.base import AttackType
from facepay.vision.liveness.policy import Decision, LivenessPolicy
from facepay.vision.liveness.synth.bona_fide import Subject, bona_fide_capture

pytestmark = pytest.mark.slow
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RGB = TerminalCapabilities()


@pytest.fixture(scope="module")
def policy(liveness_engine: DlibFaceEngine) -> LivenessPolicy:
    return LivenessPolicy(engine=liveness_engine)


def test_answered_once_then_a_replay(policy: LivenessPolicy, subjects: dict[str, Subject]) -> None:
    book = ChallengeBook()
    challenge = book.add(issue_challenge(now=NOW, rng=random.Random(21)))
    capture = bona_fide_capture(
        subjects["obama"], challenge=challenge, capabilities=RGB,
        started_at=NOW + timedelta(seconds=1), rng=random.Random(1),
    )  # fmt: skip
    after = capture.ended_at + timedelta(seconds=1)
    first = policy.evaluate(capture=capture, book=book, now=after)
    assert first.decision is Decision.LIVE, first.reason
    again = policy.evaluate(capture=capture, book=book, now=after)
    assert (again.decision, again.attack) == (Decision.SPOOF, AttackType.CHALLENGE_REPLAY)

    # The same frames re-labelled for a new challenge: recorded before it was issued.
    fresh = book.add(issue_challenge(now=after, rng=random.Random(22)))
    relabelled = Capture(capture.frames, RGB, capture.started_at, fresh.nonce)
    replay = policy.evaluate(capture=relabelled, book=book, now=after + timedelta(seconds=9))
    assert (replay.decision, replay.attack) == (Decision.SPOOF, AttackType.CHALLENGE_REPLAY)


def test_rgb_terminal_without_challenge_and_expired_challenge(
    policy: LivenessPolicy, subjects: dict[str, Subject]
) -> None:
    book = ChallengeBook()
    challenge = book.add(issue_challenge(now=NOW, rng=random.Random(23), ttl_seconds=10))
    capture = bona_fide_capture(
        subjects["biden"], challenge=challenge, capabilities=RGB,
        started_at=NOW + timedelta(seconds=1), rng=random.Random(2),
    )  # fmt: skip
    unbound = Capture(capture.frames, RGB, capture.started_at, None)
    refused = policy.evaluate(capture=unbound, book=book, now=capture.ended_at)
    assert refused.decision is Decision.RETRY
    assert "active challenge" in refused.reason
    late = policy.evaluate(capture=capture, book=book, now=NOW + timedelta(seconds=60))
    assert late.decision is Decision.RETRY
    assert "expired" in late.reason


def test_a_still_photo_is_never_live(policy: LivenessPolicy, subjects: dict[str, Subject]) -> None:
    photo = subjects["obama"].image
    for frames in ((Frame(0.0, photo),), tuple(Frame(i * 0.25, photo) for i in range(16))):
        book = ChallengeBook()
        nonce = book.add(issue_challenge(now=NOW, rng=random.Random(24))).nonce
        still = Capture(frames, RGB, NOW + timedelta(seconds=1), nonce)
        decision = policy.evaluate(capture=still, book=book, now=NOW + timedelta(seconds=8))
        assert decision.decision is not Decision.LIVE
    assert decision.decision is Decision.SPOOF
    assert decision.attack is AttackType.PRINT
