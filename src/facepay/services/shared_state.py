"""What every worker process shares, through the database: the liveness challenge book and the
token buckets of the request limits.

A challenge issued by one worker is answered on any other and redeemed once: redeeming is one
conditional update, which of two workers racing for the same nonce exactly one wins. A bucket is
one row, locked while a token is taken, so a terminal sending to ten workers on three machines
gets the one rate it was given. Each call is a short transaction of its own, apart from the use
case's: a spent nonce or token stays spent whatever the request does next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from facepay.services.ports import StorageBusy, UnitOfWork
from facepay.shared.errors import RateLimited
from facepay.vision.liveness.challenge import Challenge, ChallengeStatus


class StoredChallengeBook:
    """A `ChallengeStore` in the database, for any number of worker processes."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def add(self, challenge: Challenge) -> Challenge:
        """Record an issued challenge."""
        with self._uow() as uow:
            uow.shared.add_challenge(challenge)
            uow.commit()
        return challenge

    def peek(self, nonce: str, *, now: datetime) -> tuple[ChallengeStatus, Challenge | None]:
        """What `redeem` would answer now, consuming nothing."""
        with self._uow() as uow:
            found = uow.shared.challenge(nonce)
        if found is None:
            return ChallengeStatus.UNKNOWN, None
        challenge, redeemed = found
        if redeemed:
            return ChallengeStatus.REUSED, None
        return _in_time(challenge, now)

    def redeem(self, nonce: str, *, now: datetime) -> tuple[ChallengeStatus, Challenge | None]:
        """Consume `nonce`: VALID once across every worker, REUSED afterwards."""
        with self._uow() as uow:
            won = uow.shared.redeem_challenge(nonce, at=now)
            known = won is not None or uow.shared.challenge(nonce) is not None
            uow.commit()
        if won is None:
            return (ChallengeStatus.REUSED if known else ChallengeStatus.UNKNOWN), None
        return _in_time(won, now)

    def purge(self, *, now: datetime) -> int:
        """Forget challenges past their expiry (a late replay is then unknown: refused too)."""
        with self._uow() as uow:
            gone = uow.shared.purge_challenges(now=now)
            uow.commit()
        return gone

    def __len__(self) -> int:
        with self._uow() as uow:
            return uow.shared.count_challenges()


def _in_time(challenge: Challenge, now: datetime) -> tuple[ChallengeStatus, Challenge]:
    if now > challenge.expires_at:
        return ChallengeStatus.EXPIRED, challenge
    return ChallengeStatus.VALID, challenge


class SharedTokenBuckets:
    """Token buckets in the database: `rate` tokens a second per key, at most `burst` saved;
    `name` keeps the buckets of different limits apart. Times are Unix seconds of each
    worker's clock (keep the machines on NTP: a skew of s seconds lends s × rate tokens)."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        *,
        name: str,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow, self._name = uow, name
        self._rate, self._burst, self._clock = rate, float(burst), clock

    def take(self, key: str) -> None:
        """Spend one token for `key` or raise RateLimited (saying how long to wait)."""
        row = f"{self._name}:{key}"[:200]
        for attempt in range(3):
            try:
                self._take(row)
            except StorageBusy:
                if attempt == 2:
                    raise  # the database is busy, not the caller too fast: a 503 to retry
                continue  # two workers created the same bucket at once: read it again
            return

    def _take(self, row: str) -> None:
        now = self._clock()
        with self._uow() as uow:
            uow.shared.relax_durability()
            found = uow.shared.bucket(row)
            if found is None:
                tokens, updated = self._burst, now
            else:
                tokens, updated = found
                tokens = min(self._burst, tokens + max(0.0, now - updated) * self._rate)
            if tokens < 1.0:
                wait = (1.0 - tokens) / self._rate if self._rate > 0 else 60.0
                raise RateLimited("too many requests; slow down", retry_after=wait)
            stamp = max(now, updated)
            uow.shared.put_bucket(row, tokens=tokens - 1.0, updated_at=stamp, new=found is None)
            uow.commit()

    def purge(self, *, idle_seconds: float) -> int:
        """Forget buckets untouched for `idle_seconds` (refilled: they carry nothing)."""
        with self._uow() as uow:
            gone = uow.shared.purge_buckets(before=self._clock() - idle_seconds)
            uow.commit()
        return gone
