"""Cumulative bands, like tax brackets: each part of this bill pays at the band it falls in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from facepay.shared.money import round_half_up


@dataclass(frozen=True)
class BandShare:
    """The part of a bill inside `[lower, upper)` of the year's running total, and its payment."""

    lower: int
    upper: int | None
    ratio: Decimal
    part: int
    paid: int


def pay_by_bands(
    *, already: int, amount: int, lower: int, bands: Sequence[tuple[int | None, Decimal]]
) -> list[BandShare]:
    """Pay `amount` on top of `already` this year over bands starting at `lower` (upto, ratio).

    Each band's product is rounded half-up to the fen on its own, as INSURANCE.md §2 says; the
    part below `lower` (a threshold) is paid nothing.
    """
    start, end = already, already + amount
    shares = []
    for upto, ratio in bands:
        top = end if upto is None else min(end, upto)
        part = top - max(start, lower)
        if part > 0:
            shares.append(BandShare(lower, upto, ratio, part, round_half_up(part * ratio)))
        if upto is None or upto >= end:
            break
        lower = upto
    return shares
