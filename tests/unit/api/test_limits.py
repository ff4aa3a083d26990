"""Token buckets: burst, refill, Retry-After, bounded memory."""

from __future__ import annotations

import pytest

from facepay.api.limits import TokenBuckets
from facepay.shared.errors import RateLimited


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill() -> None:
    clock = Ticks()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        buckets.take("kiosk")
    with pytest.raises(RateLimited) as refused:
        buckets.take("kiosk")
    assert refused.value.retry_after == pytest.approx(0.5)
    clock.now = 0.5
    buckets.take("kiosk")
    buckets.take("other")  # buckets are per key


def test_full_buckets_are_forgotten_when_the_table_is_full() -> None:
    clock = Ticks()
    buckets = TokenBuckets(rate=1.0, burst=1, clock=clock, max_keys=2)
    buckets.take("a")
    buckets.take("b")
    clock.now = 5.0
    buckets.take("c")
    assert len(buckets._buckets) <= 2
