"""Challenges: random, well-formed, answered once, expiring."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from facepay.shared.errors import InvalidInput
from facepay.vision.liveness.challenge import (
    DEFORMING,
    HEAD_MOVES,
    Challenge,
    ChallengeBook,
    ChallengeStatus,
    issue_challenge,
)

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("seed", range(40))
def test_every_challenge_asks_a_deformation_and_a_head_move_in_ordered_windows(seed: int) -> None:
    challenge = issue_challenge(now=NOW, rng=random.Random(seed))
    actions = challenge.actions
    assert 2 <= len(actions) <= 3
    assert len(set(actions)) == len(actions)
    assert any(a in DEFORMING for a in actions)
    assert any(a in HEAD_MOVES for a in actions)
    for earlier, later in zip(challenge.steps, challenge.steps[1:], strict=False):
        assert earlier.start < earlier.end < later.start
    assert challenge.expires_at - challenge.issued_at == timedelta(seconds=30)


def test_system_random_challenges_have_unpredictable_distinct_nonces() -> None:
    nonces = {issue_challenge(now=NOW).nonce for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) >= 20 for n in nonces)


def test_a_challenge_is_redeemed_once() -> None:
    book = ChallengeBook()
    challenge = book.add(issue_challenge(now=NOW, rng=random.Random(1)))
    assert book.redeem(challenge.nonce, now=NOW) == (ChallengeStatus.VALID, challenge)
    assert book.redeem(challenge.nonce, now=NOW) == (ChallengeStatus.REUSED, None)


def test_unknown_and_expired_nonces() -> None:
    book = ChallengeBook()
    challenge = book.add(issue_challenge(now=NOW, rng=random.Random(2), ttl_seconds=10))
    assert book.redeem("made-up", now=NOW)[0] is ChallengeStatus.UNKNOWN
    late = NOW + timedelta(seconds=11)
    assert book.redeem(challenge.nonce, now=late)[0] is ChallengeStatus.EXPIRED
    # An expired nonce is spent too: it cannot be tried again.
    assert book.redeem(challenge.nonce, now=NOW)[0] is ChallengeStatus.REUSED


def test_json_round_trip() -> None:
    challenge = issue_challenge(now=NOW, rng=random.Random(3))
    assert Challenge.from_json(challenge.to_json()) == challenge


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"nonce": "n", "issued_at": "yesterday", "expires_at": NOW.isoformat(), "steps": []},
        {
            "nonce": "n",
            "issued_at": NOW.isoformat(),
            "expires_at": NOW.isoformat(),
            "steps": [{"action": "wink", "start": 0, "end": 1}],
        },
        {
            "nonce": "n",
            "issued_at": "2026-03-01T08:30:00",
            "expires_at": "2026-03-01T08:31:00",
            "steps": [{"action": "blink", "start": 0, "end": 1}],
        },
    ],
)
def test_malformed_challenges_are_invalid_input(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        Challenge.from_json(data)
