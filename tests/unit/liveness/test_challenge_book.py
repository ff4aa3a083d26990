"""The challenge book forgets: an issued challenge is kept until it expires, a redeemed nonce
until its challenge would have expired; so one kiosk at its rate limit cannot grow it without end
(before, every challenge ever issued stayed in memory, ~541 bytes each). It is bounded too."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from facepay.shared.errors import Unavailable
from facepay.vision.liveness.challenge import ChallengeBook, ChallengeStatus, issue_challenge

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _issue(book: ChallengeBook, at: datetime, seed: int) -> str:
    challenge = issue_challenge(now=at, rng=random.Random(seed), ttl_seconds=30)
    return book.add(challenge).nonce


def test_expired_challenges_and_spent_nonces_are_forgotten() -> None:
    book = ChallengeBook()
    nonces = [_issue(book, T0, seed) for seed in range(1000)]
    for nonce in nonces[:500]:
        assert book.redeem(nonce, now=T0 + timedelta(seconds=1))[0] is ChallengeStatus.VALID
    assert len(book) == 1000
    assert book.purge(now=T0 + timedelta(seconds=31)) == 1000
    assert len(book) == 0
    # A nonce forgotten after expiry is refused as unknown: a replay is still a replay.
    assert book.redeem(nonces[0], now=T0 + timedelta(seconds=40))[0] is ChallengeStatus.UNKNOWN


def test_live_challenges_survive_a_purge() -> None:
    book = ChallengeBook()
    old = _issue(book, T0, 1)
    fresh = _issue(book, T0 + timedelta(seconds=20), 2)
    book.purge(now=T0 + timedelta(seconds=35))
    assert len(book) == 1
    assert book.redeem(fresh, now=T0 + timedelta(seconds=36))[0] is ChallengeStatus.VALID
    assert book.redeem(old, now=T0 + timedelta(seconds=36))[0] is ChallengeStatus.UNKNOWN


def test_a_full_book_purges_then_refuses_with_retry_later() -> None:
    book = ChallengeBook(max_entries=10)
    for seed in range(10):
        _issue(book, T0, seed)
    _issue(book, T0 + timedelta(seconds=31), 99)  # the expired ten make room
    assert len(book) == 1
    for seed in range(9):
        _issue(book, T0 + timedelta(seconds=32), 100 + seed)
    with pytest.raises(Unavailable) as full:
        _issue(book, T0 + timedelta(seconds=33), 200)
    assert full.value.code == "challenges_full"
