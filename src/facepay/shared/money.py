"""Money as integer fen (1 yuan = 100 fen); ratios are Decimal and rounded half-up to the fen."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

FEN_PER_YUAN = 100


def round_half_up(value: Decimal) -> int:
    """Round a Decimal amount of fen half-up to a whole fen."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_to_yuan_str(fen: int) -> str:
    """Format fen as a yuan string with two decimals, e.g. 123456 -> '1234.56'."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{part:02d}"


def yuan_str_to_fen(text: str) -> int:
    """Parse a yuan amount with at most two decimals into fen, refusing fractions of a fen."""
    value = Decimal(text) * FEN_PER_YUAN
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of fen")
    return int(value)
